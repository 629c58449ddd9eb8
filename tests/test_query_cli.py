"""`lockgate logs`, `sessions` and `export` against the data dir of a real gateway, compared with the API."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from lockgate.cli import cli
from lockgate.cli.export import EXPORT_FIELDS
from tests.gateway_proc import GatewayProcess
from tests.query_data import SESSION_A, SESSION_B, WORD, Logged


@pytest.fixture
def lg(logged: Logged, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(logged.gw.data_dir))
    monkeypatch.setenv("LOCKGATE_CONFIG", str(logged.gw.config_path))

    def run(*args: str, code: int = 0) -> tuple[str, str]:
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == code, (result.output, result.stderr)
        return result.stdout, result.stderr
    return run


def api_rows(logged: Logged, **params: Any) -> list[dict[str, Any]]:
    r = httpx.get(f"{logged.gw.root}/api/requests", params={**params, "limit": 1000},
                  headers={"authorization": f"Bearer {logged.gw.key}"})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def test_logs_filters_match_the_api(lg: Any, logged: Logged) -> None:
    cases: list[tuple[list[str], dict[str, Any]]] = [
        ([], {}),
        (["--user", "alice", "--model", "gpt-5"], {"user": "alice", "model": "gpt-5"}),
        (["--status", "error"], {"status": "error"}),
        (["-p", "env:prod"], {"property": "env:prod"}),
        (["--session", SESSION_B], {"session": SESSION_B}),
        (["--min-latency", "900"], {"min_latency_ms": 900}),
        (["--min-cost", "100"], {"min_cost": 100}),
        (["-q", WORD], {"q": WORD}),
        (["--from", "1h", "--key", "test"], {"from": "1h", "key": "test"}),
    ]
    for args, params in cases:
        out, _ = lg("logs", *args, "--json", "-n", "1000")
        ids = [orjson.loads(line)["id"] for line in out.splitlines()]
        assert ids == [r["id"] for r in api_rows(logged, **params)] and ids, args


def test_logs_table_pages_and_errors(lg: Any, logged: Logged) -> None:
    out, err = lg("logs", "-n", "3")
    assert "more: --cursor " in err and "gpt-5" in out and logged.ids["slow"] in out
    cursor = err.split("--cursor ", 1)[1].split()[0]
    second, _ = lg("logs", "-n", "3", "--cursor", cursor, "--json")
    assert [orjson.loads(line)["id"] for line in second.splitlines()] == [r["id"] for r in api_rows(logged)][3:6]
    _, err = lg("logs", "--status", "6xx", code=2)
    assert "--status" in err and "6xx" in err
    _, err = lg("logs", "--from", "someday", code=2)
    assert "--from" in err
    tail, _ = lg("logs", "tail", "-n", "2", "--json")  # the old command still works
    assert [orjson.loads(line)["id"] for line in tail.splitlines()] == [logged.ids["limited"], logged.ids["slow"]]


def test_sessions_list_and_tree(lg: Any, logged: Logged) -> None:
    out, _ = lg("sessions", "--json")
    listed = [orjson.loads(line) for line in out.splitlines()]
    assert [s["id"] for s in listed] == [SESSION_B, SESSION_A] and listed[1]["requests"] == 6
    out, _ = lg("sessions")
    assert SESSION_A in out and "Course Plan" in out
    out, _ = lg("sessions", "--user", "bob", "--json")
    assert [orjson.loads(line)["id"] for line in out.splitlines()] == [SESSION_B]
    out, _ = lg("sessions", "show", SESSION_A)
    lines = out.splitlines()
    plan = next(i for i, line in enumerate(lines) if "plan  4 req" in line)
    step1 = next(i for i, line in enumerate(lines) if "step-1  2 req" in line)
    assert plan < step1 and "6 req" in lines[0] and logged.ids["a_step1_stream"] in out
    out, _ = lg("sessions", "show", SESSION_A, "--json")
    tree = orjson.loads(out)
    api_tree = httpx.get(f"{logged.gw.root}/api/sessions/{SESSION_A}",
                         headers={"authorization": f"Bearer {logged.gw.key}"}).json()
    assert tree == api_tree
    _, err = lg("sessions", "show", "nope", code=1)
    assert "no requests" in err


def test_export_csv_to_stdout_matches_the_api(lg: Any, logged: Logged) -> None:
    out, err = lg("export", "--format", "csv", "--user", "alice")
    assert err == ""  # no progress bar when writing to stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    api = api_rows(logged, user="alice")
    assert [r["id"] for r in rows] == [r["id"] for r in api] and len(rows) == 6
    assert tuple(rows[0]) == EXPORT_FIELDS
    for got, want in zip(rows, api, strict=True):
        assert float(got["ts"]) == want["ts"] and got["session_id"] == SESSION_A and got["user_id"] == "alice"
        assert orjson.loads(got["properties"]) == want["properties"]
        assert got["model_resolved"] == want["model_resolved"] and int(got["status"]) == want["status"]
        assert int(got["input_tokens"]) == want["input_tokens"] and float(got["latency_ms"]) == want["latency_ms"]
        assert got["cost_usd"] == ("" if want["cost_usd"] is None else str(want["cost_usd"]))
        assert got["ttft_ms"] == ("" if want["ttft_ms"] is None else str(want["ttft_ms"]))


def test_export_jsonl_to_a_file_with_progress(lg: Any, logged: Logged, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    _, err = lg("export", "--output", str(target))
    assert "11 requests written" in err and "exporting" in err
    rows = [orjson.loads(line) for line in target.read_text().splitlines()]
    api = {r["id"]: r for r in api_rows(logged)}
    assert [r["id"] for r in rows] == list(api)
    for row in rows:
        want = api[row["id"]]
        assert set(row) == set(EXPORT_FIELDS)
        for name in EXPORT_FIELDS:
            if name != "time":
                assert row[name] == want[name], name
    _, err = lg("export", "--format", "csv", "-q", WORD, "--output", str(tmp_path / "one.csv"))
    assert "1 requests written" in err
    assert len(list(csv.DictReader((tmp_path / "one.csv").open()))) == 1


def test_export_streams_in_chunks(logged: Logged, tmp_path: Path) -> None:
    """The export reads in chunks: a chunk size below the row count still yields every row once."""
    from lockgate.store.filters import RequestFilter
    from lockgate.store.query import iter_requests

    ids = [r["id"] for r in iter_requests(logged.gw.engine, RequestFilter(), chunk=2)]
    assert ids == [r["id"] for r in api_rows(logged)]
    searched = [r["id"] for r in iter_requests(logged.gw.engine, RequestFilter(text="step"), chunk=1)]
    assert len(searched) == 3 == len(set(searched))


def test_export_as_a_process(logged: Logged) -> None:
    env = {"LOCKGATE_DATA_DIR": str(logged.gw.data_dir), "LOCKGATE_CONFIG": str(logged.gw.config_path),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "lockgate", "export", "--format", "jsonl", "--status", "5xx"],
                          env=env, capture_output=True, timeout=60, check=True)
    assert [orjson.loads(line)["id"] for line in done.stdout.splitlines()] == [logged.ids["b_err"]]


def test_a_big_session_tree_is_cut_and_says_so(logged: Logged) -> None:
    from lockgate.store.query_groups import session_tree

    tree = session_tree(logged.gw.engine, SESSION_A, max_requests=4)
    assert tree is not None and tree["truncated"] is True and tree["root"]["total"]["requests"] == 4
    whole = session_tree(logged.gw.engine, SESSION_A)
    assert whole is not None and whole["truncated"] is False and whole["root"]["total"]["requests"] == 6


def test_logs_tail_follows_with_filters(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory()
    auth = {"authorization": f"Bearer {gw.key}"}

    def post(user: str) -> str:
        r = httpx.post(f"{gw.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": "tail me"}),
                       headers={**auth, "Helicone-User-Id": user})
        return str(r.headers["lockgate-request-id"])

    first = post("carol")
    post("dave")
    gw.row(first)
    env = {**os.environ, "LOCKGATE_DATA_DIR": str(gw.data_dir), "LOCKGATE_CONFIG": str(gw.config_path)}
    proc = subprocess.Popen([sys.executable, "-m", "lockgate", "logs", "tail", "-f", "--json", "--user", "carol"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert orjson.loads(proc.stdout.readline())["id"] == first
        post("dave")  # filtered out
        later = post("carol")
        assert orjson.loads(proc.stdout.readline())["id"] == later
    finally:
        proc.terminate()
        proc.wait(10)


def test_body_search_stops_at_its_scan_limit_and_goes_on_from_the_cursor(logged: Logged) -> None:
    from lockgate.store.filters import RequestFilter, decode_cursor
    from lockgate.store.query import list_requests

    flt = RequestFilter(text="step")
    found: list[str] = []
    scanned = 0
    cursor = None
    while True:
        page = list_requests(logged.gw.engine, flt, limit=50, cursor=cursor, scan_limit=3)
        assert page.scanned is not None and page.scanned <= 3
        scanned += page.scanned
        found += [r["id"] for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = decode_cursor(page.next_cursor)
    assert scanned == len(logged.ids) and logged.labels(found) == {"a_step1_first", "a_step1_stream", "a_step2"}
