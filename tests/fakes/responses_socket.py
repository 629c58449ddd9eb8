"""The WebSocket mode of `/v1/responses` as OpenAI serves it, for the fakes that speak Responses.

`GET /v1/responses` with an Upgrade → `response.create` text frames → one JSON event per text
frame (each carries its own `type` and `sequence_number`). The connection keeps its last
response (input + output) in memory, so a frame may chain from it with `previous_response_id`
and only its new items, even with `store: false`; any other previous id is
`previous_response_not_found`, in-band. `generate: false` warms up: created + completed, no
output, and the warm-up is what the next frame chains from.

Knobs for the gateway's tests: `enabled` (False: the upgrade is a 404, as on hosts without the
mode), `turn_limit` (after that many responses a connection answers
`websocket_connection_limit_reached` and closes, like OpenAI's 60-minute limit),
`amnesia` (chained frames are not found, as after an upstream restart), `close_all()` (the
upstream drops its idle sockets). The model names `fake-error-<status>`,
`fake-drop` (two events, then the socket closes) and `fake-slow` behave as over HTTPS.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tests.fakes import openai_payloads as P

__all__ = ["ResponsesSocketFace", "SocketFrame"]

Json = dict[str, Any]
_ZERO_USAGE = {"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 0,
               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0}


@dataclass(frozen=True)
class SocketFrame:
    connection: int  # which upgrade (0, 1, …) the frame came on
    frame: Json  # as the client sent it
    body: Json  # what it meant: the full request after the connection's history


class ResponsesSocketFace:
    def __init__(self, respond: Callable[[Json], Json], slow_seconds: float = 1.0) -> None:
        self._respond = respond  # full request body → response object
        self.slow_seconds = slow_seconds
        self.enabled = True
        self.turn_limit: int | None = None
        self.amnesia = False  # True: no response is remembered (a chained frame is not found)
        self.upgrades: list[dict[str, str]] = []  # each upgrade's headers (lower-case names)
        self.frames: list[SocketFrame] = []
        self._open: set[web.WebSocketResponse] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget what was recorded and reset the knobs."""
        with self._lock:
            self.upgrades.clear()
            self.frames.clear()
        self.enabled, self.turn_limit, self.amnesia = True, None, False

    @property
    def open_sockets(self) -> int:
        return len(self._open)

    def close_all(self) -> None:
        """Close every open socket from the server side (call from the test's thread)."""
        if self._loop is None:
            return
        done = asyncio.run_coroutine_threadsafe(self._close_all(), self._loop)
        done.result(10)

    async def _close_all(self) -> None:
        for ws in list(self._open):
            await ws.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        if not self.enabled or not ws.can_prepare(request).ok:
            return web.Response(status=404, content_type="application/json", body=P.error_body(
                "Invalid URL (GET /v1/responses)", "invalid_request_error", None))
        self._loop = asyncio.get_running_loop()
        await ws.prepare(request)
        with self._lock:
            conn = len(self.upgrades)
            self.upgrades.append({k.lower(): v for k, v in request.headers.items()})
        self._open.add(ws)
        last: tuple[str, list[Any]] | None = None
        served = 0
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = orjson.loads(msg.data)
                if self.turn_limit is not None and served >= self.turn_limit:
                    await _send_error(ws, 400, "websocket_connection_limit_reached",
                                      "Responses websocket connection limit reached (60 minutes). "
                                      "Create a new websocket connection to continue.")
                    await ws.close()
                    break
                outcome = await self._frame(ws, conn, frame, last)
                if outcome == "closed":
                    break
                if outcome is not None:
                    last = outcome
                    served += 1
        finally:
            self._open.discard(ws)
        return ws

    async def _frame(self, ws: web.WebSocketResponse, conn: int, frame: Any,
                     last: tuple[str, list[Any]] | None) -> tuple[str, list[Any]] | str | None:
        """Answer one frame; the new (response id, items) to chain from, "closed", or None."""
        if not isinstance(frame, dict) or frame.get("type") != "response.create":
            await _send_error(ws, 400, "unknown_event_type", "Unsupported event type.", "type")
            return None
        items = frame.get("input")
        items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": items}]}] if (
            isinstance(items, str)) else list(items or [])
        prev = frame.get("previous_response_id")
        if prev is not None:
            if self.amnesia or last is None or last[0] != prev:
                with self._lock:
                    self.frames.append(SocketFrame(conn, frame, {}))
                await _send_error(ws, 400, "previous_response_not_found",
                                  f"Previous response with id '{prev}' not found.", "previous_response_id")
                return None
            items = last[1] + items
        body = {k: v for k, v in frame.items() if k not in ("type", "generate", "previous_response_id")}
        body["input"] = items
        with self._lock:
            self.frames.append(SocketFrame(conn, frame, body))
        model = str(body.get("model") or "")
        if model.startswith("fake-error-"):
            status = int(model.rsplit("-", 1)[1])
            await _send_error(ws, status, "rate_limit_exceeded" if status == 429 else "server_error",
                              f"fake upstream error {status}", headers={"retry-after": "1"} if status == 429 else None)
            return None
        if frame.get("generate") is False:
            resp = {**P.response_object(body), "output": [], "usage": _ZERO_USAGE}
            events: list[tuple[str, Json]] = [("response.created", {"response": {**resp, "status": "in_progress"}}),
                                              ("response.completed", {"response": resp})]
        else:
            resp = self._respond(body)
            events = [e for e in P.response_events(resp) if e[0] != "response.fake_unknown_event"]
        if model == "fake-slow":
            await asyncio.sleep(self.slow_seconds)
        for seq, (name, data) in enumerate(events):
            await ws.send_str(orjson.dumps({"type": name, "sequence_number": seq, **data}).decode())
            if model == "fake-drop" and seq == 1:
                await ws.close()
                return "closed"
        return str(resp["id"]), items + list(resp["output"])


async def _send_error(ws: web.WebSocketResponse, status: int, code: str, message: str, param: str | None = None,
                      headers: dict[str, str] | None = None) -> None:
    event: Json = {"type": "error", "status": status,
                   "error": {"type": "invalid_request_error" if status < 500 else "server_error", "code": code,
                             "message": message, "param": param}}
    if headers:
        event["headers"] = headers
    await ws.send_str(orjson.dumps(event).decode())
