"""`GET /api/stats` and `lockgate stats` through a real gateway process and its SQLite store."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from openapi_spec_validator import validate

from tests.gateway_proc import GatewayProcess


@pytest.fixture(scope="module")
def gw(gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    return gateway_factory()


def send(gw: GatewayProcess, model: str, user: str, team: str | None = None, stream: bool = False) -> str:
    headers = {"authorization": f"Bearer {gw.key}", "Helicone-User-Id": user}
    if team:
        headers["Helicone-Property-Team"] = team
    body = {"model": model, "messages": [{"role": "user", "content": f"hi {user} {time.time_ns()}"}],
            "stream": stream}
    r = httpx.post(f"{gw.url}/chat/completions", content=orjson.dumps(body), headers=headers, timeout=10)
    if stream:
        r.read()
    return r.headers["lockgate-request-id"]


def stats(gw: GatewayProcess, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{gw.root}/api/stats", params=params, headers={"authorization": f"Bearer {gw.key}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_stats_group_by_filter_and_the_newest_rows(gw: GatewayProcess) -> None:
    ids = [send(gw, "gpt-5", "alice", "core"), send(gw, "gpt-5", "alice", "core", stream=True),
           send(gw, "gpt-5-mini", "bob", "web"), send(gw, "fake-error-500", "bob")]
    for rid in ids:
        gw.row(rid)
    rows = gw.rows()
    by_model = stats(gw, group_by="model")
    groups = {r["group"]: r for r in by_model["rows"]}
    assert {g: r["requests"] for g, r in groups.items()} == {"gpt-5": 2, "gpt-5-mini": 1, "fake-error-500": 1}
    assert groups["fake-error-500"]["errors"] == 1 and groups["fake-error-500"]["error_rate"] == 1.0
    gpt5 = [r for r in rows if r["model_resolved"] == "gpt-5"]
    assert groups["gpt-5"]["tokens"]["input"] == sum(r["input_tokens"] for r in gpt5) > 0
    assert groups["gpt-5"]["tokens"]["output"] == sum(r["output_tokens"] for r in gpt5)
    assert groups["gpt-5"]["streamed"] == 1 and groups["gpt-5"]["ttft_ms"]["count"] == 1
    lat = groups["gpt-5"]["latency_ms"]
    assert lat["count"] == 2 and lat["p50"] > 0 and lat["p99"] >= lat["p50"]
    assert by_model["total"]["requests"] == 4 and by_model["percentile_error"] < 0.05

    assert {r["group"]: r["requests"] for r in stats(gw, group_by="user")["rows"]} == {"alice": 2, "bob": 2}
    teams = stats(gw, group_by="property:Team")
    assert {r["group"]: r["requests"] for r in teams["rows"]} == {"core": 2, "web": 1}
    only = stats(gw, group_by="model", user="bob", property="team:web")
    assert [(r["group"], r["requests"]) for r in only["rows"]] == [("gpt-5-mini", 1)]
    hourly = stats(gw, bucket="hour", **{"from": str(time.time() - 7200), "to": str(time.time() + 60)})
    assert sum(r["requests"] for r in hourly["rows"]) == 4 and all(r["bucket"].endswith("Z") for r in hourly["rows"])

    # A row written a moment ago is in the very next answer, folded or not.
    rid = send(gw, "gpt-5", "carol")
    gw.row(rid)
    assert stats(gw, group_by="model", model="gpt-5")["rows"][0]["requests"] == 3


def test_the_gateway_folds_in_the_background(gw: GatewayProcess) -> None:
    send(gw, "gpt-5-mini", "dave")
    deadline = time.monotonic() + 20
    while True:
        answer = stats(gw)
        if answer["raw_rows"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answer["raw_rows"] == 0 and answer["rollup_rows"] > 0
    assert answer["total"]["requests"] == len(gw.rows())


def test_bad_stats_queries_get_openai_shaped_errors(gw: GatewayProcess) -> None:
    auth = {"authorization": f"Bearer {gw.key}"}
    for params, code, param in (({"group_by": "colour"}, "invalid_parameter", None),
                                ({"from": "yesterday"}, "invalid_parameter", "from"),
                                ({"property": "novalue"}, "invalid_parameter", "property"),
                                ({"limit": "many"}, "invalid_parameter", "limit"),
                                ({"sort": "x"}, "unknown_parameter", "sort")):
        r = httpx.get(f"{gw.root}/api/stats", params=params, headers=auth)
        assert r.status_code == 400, params
        err = r.json()["error"]
        assert err["code"] == code and err["param"] == param and err["message"], params
    r = httpx.get(f"{gw.root}/api/stats")
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"


def test_openapi_describes_stats(gw: GatewayProcess) -> None:
    spec = httpx.get(f"{gw.root}/api/openapi.json").json()
    validate(spec)
    op = spec["paths"]["/api/stats"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"from", "to", "group_by", "bucket", "model", "user",
                                                     "property", "limit"}
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/StatsResponse"}
    row = spec["components"]["schemas"]["StatsRow"]
    assert {"requests", "errors", "error_rate", "tokens", "cost_usd", "latency_ms", "ttft_ms"} <= set(row["properties"])


def test_cli_stats_table_and_json(gw: GatewayProcess) -> None:
    send(gw, "gpt-5", "erin", "core")
    gw.wait_rows(1)
    env = {**gw.env}
    out = subprocess.run([sys.executable, "-m", "lockgate", "stats", "--group-by", "model", "--since", "1d"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "gpt-5" in out.stdout and "p95 ms" in out.stdout and "total" in out.stdout
    js = subprocess.run([sys.executable, "-m", "lockgate", "stats", "--json", "--group-by", "property:team",
                         "--user", "erin"], env=env, capture_output=True, text=True, timeout=60)
    assert js.returncode == 0, js.stderr
    assert [(r["group"], r["requests"]) for r in orjson.loads(js.stdout)["rows"]] == [("core", 1)]
    bad = subprocess.run([sys.executable, "-m", "lockgate", "stats", "--bucket", "minute"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "minute buckets need both `from` and `to`" in bad.stderr
