"""The `lockgate` command: keys and logs against a real SQLite store in a temp data dir."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner

from lockgate.cli import cli
from lockgate.store import keys as key_store
from lockgate.store.db import open_engine
from tests.gateway_proc import GatewayProcess


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOCKGATE_CONFIG", raising=False)

    def invoke(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == code, result.output
        return result.output
    return invoke


def test_keys_create_list_revoke(run: Callable[..., str], tmp_path: Path) -> None:
    out = run("keys", "create", "--name", "ci-bot")
    secret = out.splitlines()[0]
    assert secret.startswith("lg-") and len(secret) > 40
    engine = open_engine(f"sqlite:///{tmp_path / 'lockgate.db'}")
    active = key_store.load_active_keys(engine)
    assert key_store.hash_key(secret) in active
    listed = run("keys", "list")
    assert "ci-bot" in listed and secret[:8] in listed and secret not in listed
    assert "revoked" in run("keys", "revoke", "ci-bot")
    assert key_store.load_active_keys(engine) == {}
    assert "ci-bot" not in run("keys", "list") and "ci-bot" in run("keys", "list", "--all")
    assert "no" in run("keys", "revoke", "nobody", code=1).lower()
    engine.dispose()


def test_revoked_key_stops_working(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory(extra="[server]\nkey_refresh_interval = 0.2\n")
    body = orjson.dumps({"model": "gpt-5", "input": "x"})
    headers = {"authorization": f"Bearer {gw.key}"}
    assert httpx.post(f"{gw.url}/responses", content=body, headers=headers).status_code == 200
    new_secret = key_store.create_key(gw.engine, "later")[1]
    # A key created after start works at once (reload on miss).
    assert httpx.post(f"{gw.url}/responses", content=body,
                      headers={"authorization": f"Bearer {new_secret}"}).status_code == 200
    key_store.revoke_key(gw.engine, "test")
    deadline = time.monotonic() + 5
    while httpx.post(f"{gw.url}/responses", content=body, headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "revoked key still accepted"
        time.sleep(0.1)


def test_logs_tail_and_show(gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    r = httpx.post(f"{gateway.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": "for the cli"}),
                   headers={"authorization": f"Bearer {gateway.key}"})
    rid = r.headers["lockgate-request-id"]
    gateway.row(rid)
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(gateway.data_dir))
    monkeypatch.setenv("LOCKGATE_CONFIG", str(gateway.config_path))
    tail = CliRunner().invoke(cli, ["logs", "tail", "-n", "500", "--json"])
    assert tail.exit_code == 0, tail.output
    rows = [orjson.loads(line) for line in tail.output.splitlines()]
    assert rid in [row["id"] for row in rows]
    table = CliRunner().invoke(cli, ["logs", "tail", "-n", "3"])
    assert table.exit_code == 0 and "responses" in table.output
    shown = CliRunner().invoke(cli, ["logs", "show", rid])
    assert shown.exit_code == 0
    detail = orjson.loads(shown.output)
    assert detail["id"] == rid and "for the cli" in detail["request_body"]
    missing = CliRunner().invoke(cli, ["logs", "show", "nope"])
    assert missing.exit_code == 1


def test_serve_creates_first_key_once(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory(create_key=False)
    m = re.search(r"created your first gateway key 'default' \(shown only now\): (lg-\S+)", gw.output())
    assert m, gw.output()
    r = httpx.post(f"{gw.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": "x"}),
                   headers={"authorization": f"Bearer {m.group(1)}"})
    assert r.status_code == 200
    gw.terminate()
    gw.start()
    assert gw.output().count("created your first gateway key") == 1
