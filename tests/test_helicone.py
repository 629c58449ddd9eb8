"""Helicone compatibility: request annotations, bring-your-own-key, feedback, scores and manual logging.

Everything goes through a real gateway process; the manual logger is Helicone's own Python client.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from helicone_helpers import HeliconeManualLogger
from openai import OpenAI

from tests.conftest import UPSTREAM_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_proc import GatewayProcess


def _chat(gw: GatewayProcess, headers: dict[str, str], *, stream: bool = False, text: str = "hi") -> httpx.Response:
    body = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": text}], "stream": stream}
    return httpx.post(f"{gw.url}/chat/completions", json=body, headers=headers, timeout=10)


def _auth(gw: GatewayProcess) -> dict[str, str]:
    return {"authorization": f"Bearer {gw.key}"}


def _db_rows(gw: GatewayProcess, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(gw.data_dir / "lockgate.db") as conn:
        return conn.execute(sql, args).fetchall()


# -- annotations on proxied requests ----------------------------------------------------


def test_client_chosen_request_id_and_response_id_headers(gateway: GatewayProcess) -> None:
    chosen = str(uuid.uuid4())
    r = _chat(gateway, {**_auth(gateway), "Helicone-Request-Id": chosen})
    assert r.status_code == 200
    assert r.headers["helicone-id"] == r.headers["lockgate-request-id"] == chosen
    assert gateway.row(chosen)["status"] == 200
    # Not a UUID: Helicone's rule is to make a fresh id; so does lockgate.
    r = _chat(gateway, {**_auth(gateway), "Helicone-Request-Id": "my-id"})
    assert r.headers["helicone-id"] != "my-id" and uuid.UUID(r.headers["helicone-id"])
    gateway.row(r.headers["helicone-id"])
    # Errors made by the gateway carry the id too.
    r = httpx.post(f"{gateway.url}/chat/completions", content=b"{", headers=_auth(gateway))
    assert r.status_code == 400 and r.headers["helicone-id"] == r.headers["lockgate-request-id"]


@pytest.mark.parametrize("stream", [False, True])
def test_omit_request_and_response_bodies_keeps_the_metrics(gateway: GatewayProcess, stream: bool) -> None:
    r = _chat(gateway, {**_auth(gateway), "Helicone-Omit-Request": "true", "Helicone-Omit-Response": "true"},
              stream=stream, text="secret prompt")
    assert r.status_code == 200 and b"secret prompt" in r.content
    rid = r.headers["helicone-id"]
    row = gateway.row(rid)
    assert row["input_tokens"] and row["output_tokens"] and row["has_bodies"] == 0
    full = gateway.bodies(rid)
    assert full["request_body"] is None and full["response_body"] is None
    # Only the response omitted: the request body is still kept.
    r = _chat(gateway, {**_auth(gateway), "lockgate-omit-response": "TRUE"}, stream=stream, text="keep me")
    full = gateway.bodies(r.headers["helicone-id"])
    assert b"keep me" in full["request_body"].encode() and full["response_body"] is None
    assert gateway.row(r.headers["helicone-id"])["has_bodies"] == 1


# -- bring your own provider key ----------------------------------------------------------


def test_helicone_auth_forwards_the_callers_own_provider_key(
        gateway_factory: Callable[..., GatewayProcess], fake: FakeOpenAI) -> None:
    gw = gateway_factory(env={"FAKE_OPENAI_KEY": ""})  # no configured provider key at all
    client = OpenAI(base_url=gw.url, api_key=UPSTREAM_KEY,
                    default_headers={"Helicone-Auth": f"Bearer {gw.key}", "Helicone-User-Id": "byok-user"})
    fake.clear()
    out = client.chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": "byok"}])
    assert out.choices[0].message.content
    sent = [r for r in fake.requests if r.path.endswith("/chat/completions")][-1]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "helicone-auth" not in sent.headers
    rows = gw.wait_rows(1)
    assert rows[0]["key_source"] == "client" and rows[0]["key_name"] == "test" and rows[0]["user_id"] == "byok-user"
    # The caller's wrong provider key reaches the provider, whose 401 comes back as it is.
    bad = httpx.post(f"{gw.url}/chat/completions", json={"model": "gpt-5-mini", "messages": []},
                     headers={"Helicone-Auth": f"Bearer {gw.key}", "authorization": "Bearer sk-wrong"})
    assert bad.status_code == 401 and bad.json()["error"]["message"] == "Incorrect API key provided."
    # A wrong gateway key in Helicone-Auth is the gateway's own 401.
    bad = httpx.post(f"{gw.url}/chat/completions", json={"model": "gpt-5-mini", "messages": []},
                     headers={"Helicone-Auth": "Bearer nope", "authorization": f"Bearer {UPSTREAM_KEY}"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_api_key"
    gw.wait_rows(3)
    time.sleep(0.3)
    for f in gw.data_dir.iterdir():
        if f.is_file():
            assert UPSTREAM_KEY.encode() not in f.read_bytes(), f
            assert gw.key.encode() not in f.read_bytes(), f


def test_without_helicone_auth_the_configured_key_is_used(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    r = _chat(gateway, _auth(gateway))
    assert r.status_code == 200
    assert gateway.row(r.headers["helicone-id"])["key_source"] == "gateway"


# -- feedback and scores ------------------------------------------------------------------


def test_feedback_on_helicone_paths_replaces_the_rating(gateway: GatewayProcess) -> None:
    rid = _chat(gateway, _auth(gateway)).headers["helicone-id"]
    # Sent at once: the row may still be in the writer's queue; the API waits for it.
    r = httpx.post(f"{gateway.root}/v1/request/{rid}/feedback", json={"rating": True}, headers=_auth(gateway))
    assert r.status_code == 200 and r.json() == {"data": {"request_id": rid, "rating": True}, "error": None}
    r = httpx.post(f"{gateway.root}/api/requests/{rid}/feedback", json={"rating": False},
                   headers={"Helicone-Auth": f"Bearer {gateway.key}"})
    assert r.status_code == 200
    assert _db_rows(gateway, "SELECT rating FROM request_feedback WHERE request_id = ?", rid) == [(0,)]


def test_scores_accept_numbers_and_booleans(gateway: GatewayProcess) -> None:
    rid = _chat(gateway, _auth(gateway)).headers["helicone-id"]
    r = httpx.post(f"{gateway.root}/v1/request/{rid}/score", json={"scores": {"accuracy": 0.9, "ok": True, "n": 3}},
                   headers=_auth(gateway))
    assert r.status_code == 200 and r.json()["data"]["scores"] == {"accuracy": 0.9, "ok": 1.0, "n": 3.0}
    httpx.post(f"{gateway.root}/v1/request/{rid}/score", json={"scores": {"accuracy": 0.5}}, headers=_auth(gateway))
    got = dict(_db_rows(gateway, "SELECT name, value FROM request_scores WHERE request_id = ?", rid))
    assert got == {"accuracy": 0.5, "ok": 1.0, "n": 3.0}


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("feedback", {"rating": "yes"}, 400, "invalid_body"),
    ("feedback", {}, 400, "invalid_body"),
    ("feedback", None, 400, "missing_body"),
    ("score", {"scores": {}}, 400, "invalid_body"),
    ("score", {"scores": {"x": "high"}}, 400, "invalid_body"),
    ("score", {"scores": {"": 1}}, 400, "invalid_body"),
])
def test_bad_feedback_and_scores_are_400s(gateway: GatewayProcess, path: str, body: Any, status: int,
                                           code: str) -> None:
    rid = _chat(gateway, _auth(gateway)).headers["helicone-id"]
    r = httpx.post(f"{gateway.root}/v1/request/{rid}/{path}", headers=_auth(gateway),
                   content=b"" if body is None else orjson.dumps(body))
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text


def test_feedback_for_unknown_requests_and_without_a_key(gateway: GatewayProcess) -> None:
    r = httpx.post(f"{gateway.root}/v1/request/{uuid.uuid4()}/feedback", json={"rating": True},
                   headers=_auth(gateway))
    assert r.status_code == 404 and r.json()["error"]["code"] == "request_not_found"
    r = httpx.post(f"{gateway.root}/v1/request/{uuid.uuid4()}/feedback", json={"rating": True})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


# -- manual logging ----------------------------------------------------------------------


def test_helicones_own_manual_logger_client_logs_through_lockgate(gateway: GatewayProcess) -> None:
    session = f"manual-{uuid.uuid4()}"
    logger = HeliconeManualLogger(api_key=gateway.key, logging_endpoint=gateway.root,
                                  headers={"Helicone-Session-Id": session, "Helicone-Property-Job": "nightly"})
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "manual"}]}

    def operation(recorder: Any) -> dict[str, Any]:
        result = {"id": "chatcmpl-m1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "done"},
                               "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                            "prompt_tokens_details": {"cached_tokens": 4}}}
        recorder.append_results(result)
        return result

    assert logger.log_request(request=request, operation=operation, provider="openai")["id"] == "chatcmpl-m1"
    logger.log_request(request={"_type": "tool", "toolName": "grep", "input": "TODO"},
                       operation=lambda rec: rec.append_results({"matches": 2}) or {"matches": 2})
    rows = _wait(lambda: gateway.rows(session_id=session), 2)
    llm = next(r for r in rows if r["api"] == "chat")
    assert (llm["source"], llm["provider"], llm["model_requested"], llm["model_resolved"]) == (
        "manual", "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (llm["input_tokens"], llm["output_tokens"], llm["cached_input_tokens"], llm["total_tokens"]) == (
        12, 3, 4, 15)
    assert llm["latency_ms"] >= 0 and llm["key_name"] == "test" and llm["status"] == 200
    props = llm["properties"] if isinstance(llm["properties"], dict) else orjson.loads(llm["properties"])
    assert props == {"job": "nightly"}
    tool = next(r for r in rows if r["api"] == "tool")
    assert tool["provider"] == "custom" and tool["source"] == "manual"
    assert orjson.loads(gateway.bodies(tool["id"])["request_body"])["toolName"] == "grep"


def test_helicone_log_body_with_timing_text_body_and_meta(gateway: GatewayProcess) -> None:
    chosen = str(uuid.uuid4())
    body = {"providerRequest": {"url": "https://api.anthropic.com/v1/messages",
                                "json": {"model": "claude-sonnet-4-5", "messages": []},
                                "meta": {"Helicone-User-Id": "u-9", "Helicone-Request-Id": chosen,
                                         "Helicone-Session-Path": "/a/b"}},
            "providerResponse": {"textBody": "plain text answer", "status": 503, "headers": {}},
            "timing": {"startTime": {"seconds": 1_700_000_000, "milliseconds": 250},
                       "endTime": {"seconds": 1_700_000_001, "milliseconds": 750}, "timeToFirstToken": 120}}
    r = httpx.post(f"{gateway.root}/custom/v1/log", json=body, headers=_auth(gateway))
    assert r.status_code == 200 and r.json() == {"id": chosen}
    row = gateway.row(chosen)
    assert (row["provider"], row["api"], row["path"], row["user_id"], row["session_path"]) == (
        "anthropic", "messages", "/v1/messages", "u-9", "/a/b")
    assert (row["ts"], row["latency_ms"], row["ttft_ms"], row["status"]) == (1_700_000_000.25, 1500.0, 120.0, 503)
    assert row["error_type"] == "upstream_status" and row["error"] == "plain text answer"


def test_native_log_body(gateway: GatewayProcess) -> None:
    body = {"model": "llama3", "provider": "ollama", "api": "chat", "request": {"messages": []},
            "response": "ok", "latency_ms": 250, "ttft_ms": 40, "session_id": "native-s", "user_id": "n-1",
            "properties": {"tier": "free"},
            "usage": {"input_tokens": 100, "output_tokens": 7, "cached_input_tokens": 30, "total_tokens": 107}}
    r = httpx.post(f"{gateway.root}/api/log", json=body, headers={**_auth(gateway), "Helicone-Property-Env": "dev"})
    assert r.status_code == 200
    row = gateway.row(r.json()["id"])
    assert (row["source"], row["provider"], row["model_resolved"], row["api"], row["session_id"]) == (
        "manual", "ollama", "llama3", "chat", "native-s")
    assert (row["input_tokens"], row["cached_input_tokens"], row["latency_ms"], row["ttft_ms"]) == (
        100, 30, 250.0, 40.0)
    props = row["properties"] if isinstance(row["properties"], dict) else orjson.loads(row["properties"])
    assert props == {"env": "dev", "tier": "free"}


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m", "surprise": 1}, None),
    ({"id": "not-a-uuid"}, "id"),
    ({"status": 42}, "status"),
    ({"start_time": 10.0, "end_time": 5.0}, "end_time"),
])
def test_native_log_rejects_bad_bodies(gateway: GatewayProcess, body: dict[str, Any], param: str | None) -> None:
    r = httpx.post(f"{gateway.root}/api/log", json=body, headers=_auth(gateway))
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and (param is None or err["param"] == param)


def _wait(fetch: Callable[[], list[dict[str, Any]]], n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = fetch()
        if len(rows) >= n or time.monotonic() > deadline:
            assert len(rows) >= n, rows
            return rows
        time.sleep(0.05)
