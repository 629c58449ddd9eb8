"""The request log: one row per request with the right fields, written off the request path."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import Callable

import httpx
import orjson

from tests.conftest import UPSTREAM_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_proc import GatewayProcess


def test_headers_bodies_and_key_are_recorded(gateway: GatewayProcess) -> None:
    body = orjson.dumps({"model": "gpt-5", "input": "annotated"})
    r = httpx.post(f"{gateway.url}/responses", content=body, headers={
        "authorization": f"Bearer {gateway.key}", "Helicone-Session-Id": "sess-1",
        "Helicone-Session-Path": "/plan/step-1", "Helicone-Session-Name": "Refactor",
        "Helicone-User-Id": "alice", "Helicone-Property-Team": "core", "lockgate-property-env": "ci",
        "user-agent": "test-agent/1.0"})
    assert r.status_code == 200
    row = gateway.row(r.headers["lockgate-request-id"])
    assert (row["session_id"], row["session_path"], row["session_name"], row["user_id"]) == (
        "sess-1", "/plan/step-1", "Refactor", "alice")
    props = row["properties"] if isinstance(row["properties"], dict) else orjson.loads(row["properties"])
    assert props == {"team": "core", "env": "ci"}
    assert row["key_name"] == "test" and row["key_id"].startswith("key_")
    assert row["user_agent"] == "test-agent/1.0" and row["request_bytes"] == len(body)
    full = gateway.bodies(r.headers["lockgate-request-id"])
    assert orjson.loads(full["request_body"]) == {"model": "gpt-5", "input": "annotated"}
    assert orjson.loads(full["response_body"])["output"][0]["content"][0]["text"] == "Hello from fake: annotated"


def test_provider_key_never_stored(gateway: GatewayProcess) -> None:
    httpx.post(f"{gateway.url}/responses", content=b'{"model":"fake-error-401","input":"x"}',
               headers={"authorization": f"Bearer {gateway.key}"})
    gateway.wait_rows(1)
    time.sleep(0.3)
    data_files = list(gateway.data_dir.iterdir())
    assert data_files
    for f in data_files:
        if f.is_file():
            assert UPSTREAM_KEY.encode() not in f.read_bytes(), f
            assert gateway.key.encode() not in f.read_bytes(), f
    assert UPSTREAM_KEY not in gateway.output()


def test_big_bodies_are_capped(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory(env={"LOCKGATE_LOG_MAX_BODY_BYTES": "2000"})
    r = httpx.post(f"{gw.url}/responses", content=orjson.dumps({"model": "fake-big", "input": "x" * 5000}),
                   headers={"authorization": f"Bearer {gw.key}"}, timeout=10)
    assert r.status_code == 200 and len(r.content) > 100_000
    row = gw.row(r.headers["lockgate-request-id"])
    assert row["response_bytes"] == len(r.content) and row["output_tokens"]
    full = gw.bodies(r.headers["lockgate-request-id"])
    assert len(full["request_body"]) <= 2000 and len(full["response_body"]) <= 2000
    assert full["request_truncated"] and full["response_truncated"]


def test_client_disconnect_cancels_upstream_and_is_logged(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    fake.disconnect_event.clear()
    body = orjson.dumps({"model": "fake-stall", "input": "x", "stream": True})
    req = (f"POST /v1/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gateway.key}\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", gateway.port)) as s:
        s.sendall(req)
        head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200")
        rid = next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"lockgate-request-id"))
        time.sleep(0.2)
    assert fake.disconnect_event.wait(5), "the upstream request was not cancelled"
    row = gateway.row(rid)
    assert row["status"] == 499 and row["error_type"] == "client_disconnected"
    assert row["stream"] and row["ttfb_ms"] is not None


def test_thousand_concurrent_requests_thousand_rows(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory()

    async def run() -> list[str]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(limits=limits, timeout=60) as c:
            async def one(i: int) -> str:
                stream = i % 2 == 0
                r = await c.post(f"{gw.url}/chat/completions", content=orjson.dumps(
                    {"model": "gpt-5", "stream": stream, "messages": [{"role": "user", "content": f"n{i}"}]}),
                    headers={"authorization": f"Bearer {gw.key}"})
                assert r.status_code == 200
                return r.headers["lockgate-request-id"]
            return await asyncio.gather(*(one(i) for i in range(1000)))

    ids = asyncio.run(run())
    rows = gw.wait_rows(1000)
    assert len(rows) == 1000
    assert {r["id"] for r in rows} == set(ids)
    assert all(r["status"] == 200 and r["output_tokens"] for r in rows)


def test_locked_database_never_blocks_requests(gateway_factory: Callable[..., GatewayProcess]) -> None:
    """The log queue overflows into the spool while the database is locked; nothing is lost."""
    gw = gateway_factory(env={"LOCKGATE_LOG_QUEUE_SIZE": "3", "LOCKGATE_LOG_BATCH_ROWS": "2"})
    lock = sqlite3.connect(gw.data_dir / "lockgate.db", timeout=1)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        ids = []
        t0 = time.monotonic()
        with httpx.Client(timeout=10) as c:
            for i in range(30):
                r = c.post(f"{gw.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": f"locked {i}"}),
                           headers={"authorization": f"Bearer {gw.key}"})
                assert r.status_code == 200
                ids.append(r.headers["lockgate-request-id"])
        elapsed = time.monotonic() - t0
        assert elapsed < 3.0, f"requests waited for the locked database ({elapsed:.1f}s)"
        assert (gw.data_dir / "spool.bin").exists()
    finally:
        lock.rollback()
        lock.close()
    rows = gw.wait_rows(30, timeout=30)
    assert {r["id"] for r in rows} == set(ids)
