"""A WebSocket client of lockgate's /v1/responses for the tests (the `websockets` library, sync)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from websockets.sync.client import ClientConnection, connect

from tests.gateway_proc import GatewayProcess

__all__ = ["TERMINAL", "completed", "create", "items_done", "log_row", "open_ws", "turn", "user", "ws_url"]

TERMINAL = ("response.completed", "response.incomplete", "response.failed", "error")


def ws_url(gw: GatewayProcess) -> str:
    return f"ws://127.0.0.1:{gw.port}/v1/responses"


def open_ws(gw: GatewayProcess, key: str | None = None, **headers: str) -> ClientConnection:
    hdrs = {"Authorization": f"Bearer {key or gw.key}", "openai-beta": "responses_websockets=2026-02-06",
            **headers}
    return connect(ws_url(gw), additional_headers=hdrs, open_timeout=10, max_size=None)


def turn(ws: ClientConnection, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Send one frame; the events up to and including the terminal one, each from its own text frame."""
    ws.send(orjson.dumps(frame).decode())
    events: list[dict[str, Any]] = []
    while True:
        raw = ws.recv(timeout=20)
        assert isinstance(raw, str), "events come as text frames"
        ev = orjson.loads(raw)
        events.append(ev)
        if ev["type"] in TERMINAL:
            return events


def completed(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events[-1]["type"] == "response.completed", events[-1]
    resp: dict[str, Any] = events[-1]["response"]
    return resp


def items_done(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == "response.output_item.done"]


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def create(model: str, items: list[dict[str, Any]], prev: str | None = None, **extra: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "response.create", "model": model, "input": items, "store": False, **extra}
    if prev is not None:
        frame["previous_response_id"] = prev
    return frame


def log_row(gw: GatewayProcess, response_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while not (rows := gw.rows(response_id=response_id)):
        assert time.monotonic() < deadline, f"no log row for {response_id}"
        time.sleep(0.05)
    assert len(rows) == 1
    return rows[0]


