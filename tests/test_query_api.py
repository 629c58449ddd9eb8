"""The query API through a real gateway: every filter, cursor pages, one request, sessions, users."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from openapi_spec_validator import validate

from lockgate.store.schema import requests
from tests.gateway_proc import GatewayProcess
from tests.query_data import SESSION_A, SESSION_B, WORD, Logged

ALL = {"a_root", "a_plan", "a_step1_first", "a_step1_stream", "a_step2", "a_summary", "b_ok", "b_err", "props",
       "limited", "slow"}
SESSION_A_LABELS = {"a_root", "a_plan", "a_step1_first", "a_step1_stream", "a_step2", "a_summary"}


def api(gw: GatewayProcess, path: str, params: Any = None, status: int = 200) -> Any:
    r = httpx.get(f"{gw.root}{path}", params=params, headers={"authorization": f"Bearer {gw.key}"}, timeout=30)
    assert r.status_code == status, r.text
    return r.json()


def tokens(r: dict[str, Any]) -> int:
    return int(r["total_tokens"] if r["total_tokens"] is not None else r["input_tokens"] + r["output_tokens"])


def found(logged: Logged, params: Any) -> set[str]:
    body = api(logged.gw, "/api/requests", [*params, ("limit", "1000")] if isinstance(params, list) else
               {**params, "limit": 1000})
    assert body["object"] == "list" and body["next_cursor"] is None and body["has_more"] is False
    ids = [r["id"] for r in body["data"]]
    assert len(ids) == len(set(ids))
    return logged.labels(ids)


def test_every_row_is_listed_newest_first(logged: Logged) -> None:
    body = api(logged.gw, "/api/requests", {"limit": 1000})
    assert logged.labels([r["id"] for r in body["data"]]) == ALL
    keys = [(r["ts"], r["id"]) for r in body["data"]]
    assert keys == sorted(keys, reverse=True)
    row = next(r for r in body["data"] if r["id"] == logged.ids["b_ok"])
    assert row["session_id"] == SESSION_B and row["session_path"] == "/x" and row["user_id"] == "bob"
    assert row["properties"] == {"env": "dev"} and row["key_name"] == "test" and row["status"] == 200
    assert row["key_source"] == "gateway" and row["source"] == "proxy"
    assert set(row) == {c.name for c in requests.columns}  # every logged column, no more
    assert row["input_tokens"] > 0 and row["cost_usd"] == 250.0


def test_time_model_provider_key_user_session_filters(logged: Logged) -> None:
    rows = logged.rows()
    cut = rows["b_ok"]["ts"]
    assert found(logged, {"from": cut}) == {"b_ok", "b_err", "props", "limited", "slow"}
    assert found(logged, {"to": cut}) == SESSION_A_LABELS
    iso = dt.datetime.fromtimestamp(cut - 0.001, dt.UTC).isoformat()  # ISO keeps microseconds only
    assert found(logged, {"from": iso, "to": rows["props"]["ts"]}) == {"b_ok", "b_err"}
    assert found(logged, {"from": "1h"}) == ALL
    assert found(logged, {"model": "gpt-5-mini"}) == {"a_step1_stream", "a_summary"}
    assert found(logged, [("model", "gpt-5-mini"), ("model", "fake-slow")]) == {"a_step1_stream", "a_summary",
                                                                                 "slow"}
    assert found(logged, {"model_requested": "fast"}) == {"a_step1_stream"}
    assert found(logged, {"provider": "openai"}) == ALL
    assert found(logged, {"provider": "claude"}) == set()
    key_id = rows["a_root"]["key_id"]
    assert found(logged, {"key": "test"}) == ALL and found(logged, {"key": key_id}) == ALL
    assert found(logged, {"key": "nobody"}) == set()
    assert found(logged, {"user": "alice"}) == SESSION_A_LABELS
    assert found(logged, [("user", "alice"), ("user", "bob")]) == SESSION_A_LABELS | {"b_ok", "b_err"}
    assert found(logged, {"session": SESSION_B}) == {"b_ok", "b_err"}
    assert found(logged, {"user": "alice", "model": "gpt-5"}) == {"a_root", "a_plan", "a_step1_first", "a_step2"}


def test_property_status_latency_cost_filters(logged: Logged) -> None:
    assert found(logged, {"property": "env:prod"}) == {"a_root", "props"}
    assert found(logged, {"property": "Env:dev"}) == {"b_ok"}  # names are case-insensitive, like headers
    assert found(logged, {"property": "env"}) == {"a_root", "props", "b_ok"}
    assert found(logged, [("property", "env:prod"), ("property", "team:search")]) == {"props"}
    assert found(logged, {"property": "team:other"}) == set()
    assert found(logged, {"status": "429"}) == {"limited"}
    assert found(logged, {"status": "4xx"}) == {"limited"}
    assert found(logged, {"status": "5xx"}) == {"b_err"}
    assert found(logged, {"status": "error"}) == {"limited", "b_err"}
    assert found(logged, {"status": "500,429"}) == {"limited", "b_err"}
    assert found(logged, {"status": "ok"}) == ALL - {"limited", "b_err"}
    assert found(logged, {"status": "200", "user": "bob"}) == {"b_ok"}
    assert found(logged, {"min_latency_ms": 900}) == {"slow"}
    assert found(logged, {"min_cost": 100}) == {"a_step1_first", "b_ok"}
    assert found(logged, {"min_cost": 200.5}) == {"b_ok"}


def test_body_search(logged: Logged) -> None:
    body = api(logged.gw, "/api/requests", {"q": WORD.lower()})
    assert logged.labels([r["id"] for r in body["data"]]) == {"a_step2"}
    assert body["scanned"] >= len(ALL) - 2 and body["next_cursor"] is None
    # The request body holds the quotes JSON-escaped; the search finds the text as typed.
    assert found(logged, {"q": f'SAY "{WORD}" AND'}) == {"a_step2"}
    assert found(logged, {"q": "fake upstream error"}) == {"b_err", "limited"}
    assert found(logged, {"q": WORD, "user": "bob"}) == set()
    assert found(logged, {"q": "no such text anywhere"}) == set()
    # A search page that fills up hands out a cursor; the next page goes on from it.
    first = api(logged.gw, "/api/requests", {"q": "step", "limit": 2})
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = api(logged.gw, "/api/requests", {"q": "step", "limit": 100, "cursor": first["next_cursor"]})
    assert logged.labels([r["id"] for r in first["data"] + rest["data"]]) == {
        "a_step1_first", "a_step1_stream", "a_step2"}


def test_cursor_pages_have_no_gaps_or_duplicates_while_rows_arrive(
        gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory()
    auth = {"authorization": f"Bearer {gw.key}"}

    def post(i: int) -> None:
        httpx.post(f"{gw.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": f"row {i}"}),
                   headers={**auth, "Helicone-User-Id": f"u{i % 3}"}, timeout=30)

    for i in range(23):
        post(i)
    before = gw.wait_rows(23)
    assert len(before) == 23
    stop = threading.Event()

    def keep_logging() -> None:
        i = 100
        while not stop.is_set():
            post(i)
            i += 1
            stop.wait(0.01)

    writer = threading.Thread(target=keep_logging)
    writer.start()
    try:
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 5, "to": before[-1]["ts"] + 1e-3}
            if cursor:
                params["cursor"] = cursor
            body = api(gw, "/api/requests", params)
            seen += [r["id"] for r in body["data"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
            post(1000 + pages)  # and one more between pages, for sure
        unbounded: list[str] = []
        cursor = None
        while True:
            body = api(gw, "/api/requests", {"limit": 4, **({"cursor": cursor} if cursor else {})})
            unbounded += [r["id"] for r in body["data"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        writer.join()
    assert pages == 5 and seen == [r["id"] for r in sorted(before, key=lambda r: (r["ts"], r["id"]), reverse=True)]
    # Without a time bound, the first page includes rows that arrived; every older row still comes once.
    assert len(unbounded) == len(set(unbounded)) and {r["id"] for r in before} <= set(unbounded)
    users = api(gw, "/api/users")["data"]
    assert {u["id"] for u in users} == {"u0", "u1", "u2"}


def test_one_request_with_bodies_annotations_feedback_and_scores(logged: Logged) -> None:
    rid = logged.ids["a_step2"]
    auth = {"authorization": f"Bearer {logged.gw.key}"}
    r = httpx.post(f"{logged.gw.root}/v1/request/{rid}/feedback", json={"rating": True}, headers=auth)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{logged.gw.root}/v1/request/{rid}/score", json={"scores": {"accuracy": 0.75, "ok": True}},
                   headers=auth)
    assert r.status_code == 200, r.text
    one = api(logged.gw, f"/api/requests/{rid}")
    assert one["id"] == rid and one["session_path"] == "/plan/step-2" and one["body_encoding"] == "utf-8"
    assert orjson.loads(one["request_body"])["input"] == f'step two: say "{WORD}" and mean it'
    assert orjson.loads(one["response_body"])["object"] == "response"
    assert one["annotations"]["helicone-session-id"] == SESSION_A
    assert one["annotations"]["helicone-session-name"] == "Course Plan"
    fb = one["feedback"]
    assert fb["rating"] is True and fb["created_at"] <= fb["updated_at"] and fb["created_at"] > one["ts"]
    assert one["scores"] == {"accuracy": 0.75, "ok": 1.0}
    assert one["request_truncated"] is False and one["content_type"].startswith("application/json")
    other = api(logged.gw, f"/api/requests/{logged.ids['b_ok']}")
    assert other["feedback"] is None and other["scores"] == {}
    assert other["annotations"]["lockgate-property-env"] == "dev"
    missing = api(logged.gw, "/api/requests/nope", status=404)
    assert missing["error"]["code"] == "request_not_found"


def test_sessions_list_and_pages(logged: Logged) -> None:
    rows = logged.rows()
    body = api(logged.gw, "/api/sessions")
    assert [s["id"] for s in body["data"]] == [SESSION_B, SESSION_A]  # most recently active first
    a = body["data"][1]
    assert a["name"] == "Course Plan" and a["user_id"] == "alice" and a["requests"] == 6 and a["errors"] == 0
    a_rows = [rows[label] for label in SESSION_A_LABELS]
    assert a["input_tokens"] == sum(r["input_tokens"] for r in a_rows)
    assert a["total_tokens"] == sum(tokens(r) for r in a_rows)
    assert 150.0 <= a["cost_usd"] < 151.0
    assert a["first_ts"] == rows["a_root"]["ts"] and a["last_ts"] == rows["a_summary"]["ts"]
    end = max(r["ts"] + r["latency_ms"] / 1000 for r in a_rows)
    assert a["duration_ms"] == pytest.approx((end - rows["a_root"]["ts"]) * 1000)
    assert body["data"][0]["errors"] == 1 and body["data"][0]["requests"] == 2
    first = api(logged.gw, "/api/sessions", {"limit": 1})
    assert [s["id"] for s in first["data"]] == [SESSION_B] and first["has_more"]
    second = api(logged.gw, "/api/sessions", {"limit": 1, "cursor": first["next_cursor"]})
    assert [s["id"] for s in second["data"]] == [SESSION_A] and second["next_cursor"] is None
    assert [s["id"] for s in api(logged.gw, "/api/sessions", {"user": "alice"})["data"]] == [SESSION_A]
    assert [s["id"] for s in api(logged.gw, "/api/sessions", {"name": "Other"})["data"]] == [SESSION_B]
    assert api(logged.gw, "/api/sessions", {"from": rows["props"]["ts"]})["data"] == []
    # A time range picks sessions; their totals still cover every request of the session.
    ranged = api(logged.gw, "/api/sessions", {"from": rows["a_summary"]["ts"], "to": rows["b_ok"]["ts"]})["data"]
    assert [s["id"] for s in ranged] == [SESSION_A] and ranged[0]["requests"] == 6


def _node(node: dict[str, Any], *path: str) -> dict[str, Any]:
    for name in path:
        node = next(ch for ch in node["children"] if ch["name"] == name)
    return node


def test_session_tree(logged: Logged) -> None:
    rows = logged.rows()
    tree = api(logged.gw, f"/api/sessions/{SESSION_A}")
    assert tree["id"] == SESSION_A and tree["name"] == "Course Plan" and tree["user_ids"] == ["alice"]
    root = tree["root"]
    assert root["path"] == "/" and [ch["name"] for ch in root["children"]] == ["plan", "summary"]
    assert [r["id"] for r in root["requests"]] == [logged.ids["a_root"]]
    plan = _node(root, "plan")
    assert [ch["path"] for ch in plan["children"]] == ["/plan/step-1", "/plan/step-2"]
    step1 = _node(root, "plan", "step-1")
    assert logged.labels([r["id"] for r in step1["requests"]]) == {"a_step1_first", "a_step1_stream"}
    assert step1["children"] == [] and step1["own"] == step1["total"] and step1["own"]["requests"] == 2
    assert plan["own"]["requests"] == 1 and plan["total"]["requests"] == 4 and root["total"]["requests"] == 6
    plan_rows = [rows[label] for label in ("a_plan", "a_step1_first", "a_step1_stream", "a_step2")]
    assert plan["total"]["output_tokens"] == sum(r["output_tokens"] for r in plan_rows)
    assert plan["total"]["latency_ms"] == pytest.approx(sum(r["latency_ms"] for r in plan_rows))
    end = max(r["ts"] + r["latency_ms"] / 1000 for r in plan_rows)
    assert plan["total"]["duration_ms"] == pytest.approx((end - rows["a_plan"]["ts"]) * 1000)
    assert step1["total"]["cost_usd"] >= 150.0 and root["total"]["cost_usd"] >= step1["total"]["cost_usd"]
    assert root["total"]["input_tokens"] == sum(rows[label]["input_tokens"] for label in SESSION_A_LABELS)
    b = api(logged.gw, f"/api/sessions/{SESSION_B}")["root"]
    assert b["requests"] == [] and _node(b, "x", "y")["own"]["errors"] == 1 and b["total"]["errors"] == 1
    assert api(logged.gw, "/api/sessions/unknown", status=404)["error"]["code"] == "session_not_found"


def test_users(logged: Logged) -> None:
    rows = logged.rows()
    users = api(logged.gw, "/api/users")["data"]
    assert [u["id"] for u in users] == ["bob", "alice"]
    bob, alice = users
    assert bob["requests"] == 2 and bob["errors"] == 1 and bob["cost_usd"] >= 250.0
    assert alice["requests"] == 6 and alice["output_tokens"] == sum(rows[x]["output_tokens"] for x in SESSION_A_LABELS)
    assert alice["first_ts"] == rows["a_root"]["ts"] and alice["last_ts"] == rows["a_summary"]["ts"]
    # Totals count only the time range.
    ranged = api(logged.gw, "/api/users", {"from": rows["a_step2"]["ts"], "to": rows["b_ok"]["ts"]})["data"]
    assert [(u["id"], u["requests"]) for u in ranged] == [("alice", 2)]
    page = api(logged.gw, "/api/users", {"limit": 1})
    assert page["has_more"] and [u["id"] for u in api(logged.gw, "/api/users", {
        "limit": 1, "cursor": page["next_cursor"]})["data"]] == ["alice"]


@pytest.mark.parametrize(("path", "params", "param"), [
    ("/api/requests", {"from": "yesterday"}, "from"),
    ("/api/requests", {"to": "2026-13-01"}, "to"),
    ("/api/requests", {"status": "6xx"}, "status"),
    ("/api/requests", {"status": "teapot"}, "status"),
    ("/api/requests", {"property": "no spaces:x"}, "property"),
    ("/api/requests", {"min_latency_ms": "fast"}, "min_latency_ms"),
    ("/api/requests", {"min_cost": "-1"}, "min_cost"),
    ("/api/requests", {"limit": "0"}, "limit"),
    ("/api/requests", {"limit": "1001"}, "limit"),
    ("/api/requests", {"cursor": "not-a-cursor"}, "cursor"),
    ("/api/requests", {"order": "asc"}, "order"),
    ("/api/sessions", {"from": "soon"}, "from"),
    ("/api/sessions", {"cursor": "eyJ4Ijox"}, "cursor"),
    ("/api/users", {"limit": "many"}, "limit"),
])
def test_bad_filter_values_get_400_in_openai_shape(logged: Logged, path: str, params: dict[str, str],
                                                     param: str) -> None:
    err = api(logged.gw, path, params, status=400)["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and err["message"]


def test_query_api_needs_a_key(logged: Logged) -> None:
    for path in ("/api/requests", f"/api/requests/{logged.ids['a_root']}", "/api/sessions",
                 f"/api/sessions/{SESSION_A}", "/api/users"):
        r = httpx.get(f"{logged.gw.root}{path}")
        assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error", path
        r = httpx.get(f"{logged.gw.root}{path}", headers={"authorization": "Bearer lg-wrong"})
        assert r.status_code == 401, path


def test_openapi_describes_the_query_endpoints(logged: Logged) -> None:
    spec = httpx.get(f"{logged.gw.root}/api/openapi.json").json()
    validate(spec)
    for path in ("/api/requests", "/api/requests/{id}", "/api/sessions", "/api/sessions/{id}", "/api/users"):
        assert "get" in spec["paths"][path], path
    params = {p["name"] for p in spec["paths"]["/api/requests"]["get"]["parameters"]}
    assert {"from", "to", "model", "provider", "key", "user", "session", "property", "status", "min_latency_ms",
            "min_cost", "q", "limit", "cursor"} <= params
    schemas = spec["components"]["schemas"]
    assert "cost_usd" in schemas["RequestRow"]["properties"] and "children" in schemas["SessionNode"]["properties"]
    assert "scores" in schemas["RequestDetail"]["properties"]
