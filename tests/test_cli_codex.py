"""`lockgate codex setup` and `lockgate codex [args…]` against temp Codex homes (no real Codex needed)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner

from lockgate.cli import cli
from lockgate.cli.codex import read_key_file
from lockgate.store import keys as key_store
from lockgate.store.db import open_engine
from tests.gateway_proc import GatewayProcess

USER_CONFIG = """\
# my settings
model = "gpt-5.5"  # the default model
approval_policy = "on-request"

[model_providers.other]
name = "other"
base_url = "https://example.invalid/v1"

[model_providers.lockgate]
# tuned by hand
request_max_retries = 2
base_url = "http://old.invalid/v1"

[mcp_servers.docs]
command = "docs-server"
"""

GATEWAY_TOML = """\
[server]
port = 8123

[providers.claude]
type = "anthropic"
base_url = "http://127.0.0.1:9"
models = ["claude-*"]

[aliases]
"gpt-5.5" = "claude/claude-sonnet-4-5"

[models."claude-sonnet-4-5"]
context_window = 200000
auto_compact_token_limit = 150000
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    data, home = tmp_path / "data", tmp_path / "codex"
    config = tmp_path / "lockgate.toml"
    config.write_text(GATEWAY_TOML, encoding="utf-8")
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(data))
    monkeypatch.setenv("LOCKGATE_CONFIG", str(config))
    monkeypatch.setenv("CODEX_HOME", str(home))
    return {"data": data, "home": home, "config": config}


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _toml(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _active_keys(data: Path) -> int:
    engine = open_engine(f"sqlite:///{data / 'lockgate.db'}")
    try:
        return len(key_store.load_active_keys(engine))
    finally:
        engine.dispose()


def test_setup_in_an_empty_codex_home(env: dict[str, Path]) -> None:
    out = _run("codex", "setup")
    home = env["home"]
    cfg = _toml(home / "config.toml")
    provider = cfg["model_providers"]["lockgate"]  # type: ignore[index]
    assert provider["base_url"] == "http://127.0.0.1:8123/v1"
    assert provider["env_key"] == "LOCKGATE_API_KEY" and provider["wire_api"] == "responses"
    assert provider["supports_websockets"] is False and "lockgate codex" in provider["env_key_instructions"]
    assert "model_catalog_url" not in provider  # no [models.*] entry has instructions
    assert set(cfg) == {"model_providers"}  # nothing else is changed: the profile selects the provider
    assert _toml(home / "lockgate.config.toml") == {"model_provider": "lockgate"}
    key_file = home / "lockgate.env"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = read_key_file(key_file)
    assert key and key.startswith("lg-") and key not in out
    assert _active_keys(env["data"]) == 1
    assert not list(home.glob("*.bak-*"))


def test_setup_merges_keeps_the_rest_and_backs_up(env: dict[str, Path]) -> None:
    home = env["home"]
    home.mkdir()
    (home / "config.toml").write_text(USER_CONFIG, encoding="utf-8")
    _run("codex", "setup", "--model", "gpt-5.5", "--base-url", "http://gw.local:9000/v1/", "--websockets")
    text = (home / "config.toml").read_text(encoding="utf-8")
    # Comments, order and the user's other tables are kept; the user's own provider keys too.
    for kept in ("# my settings", '# the default model', "# tuned by hand", "[mcp_servers.docs]",
                 'approval_policy = "on-request"', "[model_providers.other]"):
        assert kept in text
    cfg = _toml(home / "config.toml")
    provider = cfg["model_providers"]["lockgate"]  # type: ignore[index]
    assert provider["request_max_retries"] == 2 and provider["base_url"] == "http://gw.local:9000/v1"
    assert provider["supports_websockets"] is True
    assert cfg["model"] == "gpt-5.5" and cfg["model_providers"]["other"]["name"] == "other"  # type: ignore[index]
    backups = list(home.glob("config.toml.bak-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == USER_CONFIG
    # The alias's target model has a context window in lockgate's config: the profile tells Codex.
    assert _toml(home / "lockgate.config.toml") == {
        "model_provider": "lockgate", "model": "gpt-5.5", "model_context_window": 200000,
        "model_auto_compact_token_limit": 150000}


def test_setup_is_idempotent(env: dict[str, Path]) -> None:
    home = env["home"]
    home.mkdir()
    (home / "config.toml").write_text(USER_CONFIG, encoding="utf-8")
    _run("codex", "setup", "-m", "gpt-5.5")
    files = {p.name: p.read_bytes() for p in home.iterdir()}
    out = _run("codex", "setup", "-m", "gpt-5.5")
    assert "(kept)" in out and "backup" not in out
    assert {p.name: p.read_bytes() for p in home.iterdir()} == files  # no new backup, same key
    assert _active_keys(env["data"]) == 1


def test_setup_replaces_a_revoked_key_and_makes_new_ones_on_request(env: dict[str, Path]) -> None:
    _run("codex", "setup")
    first = read_key_file(env["home"] / "lockgate.env")
    engine = open_engine(f"sqlite:///{env['data'] / 'lockgate.db'}")
    key_store.revoke_key(engine, "codex")
    engine.dispose()
    assert "(new)" in _run("codex", "setup")
    second = read_key_file(env["home"] / "lockgate.env")
    assert second and second != first
    assert "(new)" in _run("codex", "setup", "--new-key")
    assert read_key_file(env["home"] / "lockgate.env") not in (first, second)


def test_setup_other_profile_and_catalog_url(env: dict[str, Path], tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.md"
    prompt.write_text("You are a coding agent.", encoding="utf-8")
    env["config"].write_text(GATEWAY_TOML + f'instructions_file = "{prompt}"\n', encoding="utf-8")
    home = env["home"]
    home.mkdir()
    (home / "config.toml").write_text('[profiles.work]\nmodel = "x"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["codex", "setup", "--profile", "work", "-m", "claude-sonnet-4-5"])
    assert result.exit_code == 0, result.output
    assert "legacy `[profiles.work]`" in result.output  # Codex 0.169 refuses `-p work` while it is there
    provider = _toml(home / "config.toml")["model_providers"]["lockgate"]  # type: ignore[index]
    assert provider["model_catalog_url"] == "http://127.0.0.1:8123/v1/codex/models"
    assert _toml(home / "work.config.toml")["model"] == "claude-sonnet-4-5"


def test_setup_refuses_broken_toml(env: dict[str, Path]) -> None:
    env["home"].mkdir()
    (env["home"] / "config.toml").write_text("model = \n", encoding="utf-8")
    assert "not valid TOML" in _run("codex", "setup", code=1)
    assert (env["home"] / "config.toml").read_text(encoding="utf-8") == "model = \n"


def _fake_codex(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir, record = tmp_path / "bin", tmp_path / "codex-call.json"
    bin_dir.mkdir()
    script = bin_dir / "codex"
    script.write_text(f"""#!{sys.executable}
import json, os, sys
json.dump({{"argv": sys.argv[1:], "key": os.environ.get("LOCKGATE_API_KEY"),
           "home": os.environ.get("CODEX_HOME")}}, open({str(record)!r}, "w"))
sys.exit(3)
""", encoding="utf-8")
    script.chmod(0o755)
    return bin_dir, record


def _launch(env: dict[str, Path], bin_dir: Path, *args: str, extra: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    run_env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **(extra or {})}
    run_env.pop("LOCKGATE_API_KEY", None)
    run_env.update(extra or {})
    return subprocess.run([sys.executable, "-m", "lockgate", "codex", *args], env=run_env, capture_output=True,
                          text=True, timeout=60)


def test_launch_runs_codex_with_the_profile_and_key(env: dict[str, Path], tmp_path: Path) -> None:
    bin_dir, record = _fake_codex(tmp_path)
    missing = _launch(env, bin_dir, "exec", "hi")
    assert missing.returncode == 1 and "lockgate codex setup" in missing.stderr
    _run("codex", "setup")
    key = read_key_file(env["home"] / "lockgate.env")
    done = _launch(env, bin_dir, "exec", "--json", "say hi")
    assert done.returncode == 3  # Codex's own exit status
    call = orjson.loads(record.read_bytes())
    assert call == {"argv": ["-p", "lockgate", "exec", "--json", "say hi"], "key": key, "home": str(env["home"])}
    # The caller's own profile and key win.
    _launch(env, bin_dir, "-p", "mine", "exec", "x", extra={"LOCKGATE_API_KEY": "lg-own"})
    call = orjson.loads(record.read_bytes())
    assert call["argv"] == ["-p", "mine", "exec", "x"] and call["key"] == "lg-own"
    _launch(env, bin_dir)  # bare `lockgate codex`: the interactive TUI
    assert orjson.loads(record.read_bytes())["argv"] == ["-p", "lockgate"]


def test_setup_output_works_against_a_gateway(gateway: GatewayProcess, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Setup against the gateway's own store and config: the written base URL and key reach it.
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(gateway.data_dir))
    monkeypatch.setenv("LOCKGATE_CONFIG", str(gateway.config_path))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    _run("codex", "setup", "--base-url", gateway.url, "-m", "gpt-5")
    provider = _toml(tmp_path / "codex" / "config.toml")["model_providers"]["lockgate"]  # type: ignore[index]
    key = read_key_file(tmp_path / "codex" / "lockgate.env")
    r = httpx.post(f"{provider['base_url']}/responses", json={"model": "gpt-5", "input": "hi"},
                   headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200, r.text


def test_codex_is_listed_and_setup_has_help() -> None:
    assert "codex" in _run("--help")
    out = _run("codex", "setup", "--help")
    assert "--model" in out and "--profile" in out and "--base-url" in out


