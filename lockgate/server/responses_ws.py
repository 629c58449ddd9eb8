"""WebSocket mode of `/v1/responses`: one socket, many turns (Codex tries it before HTTPS).

upgrade (the key is checked once, before the 101) → for each `response.create` frame:
`previous_response_id` + delta `input` become the full request from this connection's
history → the turn runs through the HTTPS handler (routing, translation, logging, usage,
errors) with a synthetic ASGI request → each SSE event of its answer goes out as one JSON
text frame → the turn's full input and output items are remembered under its response id.

Codex sends only the new items on a chained turn, even with `store: false`, so the history
lives here, per connection, whichever provider serves the turn; upstreams always get the
whole conversation over HTTPS (no `previous_response_id`), exactly as in HTTPS mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from lockgate.errors import GatewayError
from lockgate.formats.sse import SseReader, event_type
from lockgate.server.asgi_io import JSON_HEADERS, Message, Receive, Scope, Send
from lockgate.server.context import GatewayContext
from lockgate.server.drain import DRAIN, Drain
from lockgate.server.headers import AUTH_HEADERS
from lockgate.server.upstream_socket import LINK, Chain, SocketLink

__all__ = ["ResponsesSocket", "refuse"]

log = logging.getLogger("lockgate.ws")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

# Upgrade headers that describe the socket, not a turn: never part of a turn's request.
_SOCKET_HEADERS = frozenset({b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                             b"sec-websocket-protocol", b"upgrade", b"connection", b"content-length",
                             b"content-type", b"accept", b"helicone-request-id", b"lockgate-request-id"})
# client_metadata keys that Codex sets per frame for what HTTPS sends as headers.
_METADATA_HEADERS = ("x-codex-turn-metadata", "x-codex-window-id")
_WS_HEADER_PREFIX = "ws_request_header_"  # Codex: per-request headers carried in client_metadata
_NOT_BODY = frozenset({"type", "generate", "previous_response_id"})
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_REMEMBERED = 64  # responses a connection can chain from (Codex only chains from the last one)
_ZERO_USAGE = {"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 0,
               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0}


@dataclass(slots=True)
class _Done:
    """A finished response: what the next turn's `previous_response_id` expands to."""

    model: str | None
    items: list[Any]  # the turn's full input, then its output items


async def refuse(scope: Scope, receive: Receive, send: Send, status: int, body: bytes) -> None:
    """Answer an upgrade with an HTTP error instead of a socket."""
    msg = await receive()
    if msg["type"] == "websocket.connect":
        await _reject(scope, send, status, body)


async def _reject(scope: Scope, send: Send, status: int, body: bytes, reason: str = "") -> None:
    extensions: dict[str, Any] = scope.get("extensions") or {}
    if "websocket.http.response" in extensions:
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # the server cannot send a status: close with "policy violation" (the client sees 403)
        await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})


class ResponsesSocket:
    """The ASGI handler for a WebSocket on /v1/responses; `turn` is the POST /v1/responses handler."""

    def __init__(self, ctx: GatewayContext, turn: Handler) -> None:
        self._ctx = ctx
        self._turn = turn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        msg = await receive()
        if msg["type"] != "websocket.connect":
            return
        try:
            await self._authenticate(scope["headers"])
        except GatewayError as exc:
            await _reject(scope, send, exc.status, exc.openai_body(), exc.message)
            return
        await send({"type": "websocket.accept"})
        await _Connection(scope, receive, send, self._turn).run()

    async def _authenticate(self, headers: list[tuple[bytes, bytes]]) -> None:
        """The upgrade carries the key, as HTTPS requests do (Helicone-Auth wins, as there)."""
        authz = xkey = gateway_auth = None
        for name, value in headers:
            if name == b"authorization":
                authz = value.decode("latin-1")
            elif name == b"x-api-key":
                xkey = value.decode("latin-1")
            elif name in AUTH_HEADERS:
                gateway_auth = value.decode("latin-1")
        if gateway_auth is not None:
            await self._ctx.authenticate(gateway_auth, None)
        else:
            await self._ctx.authenticate(authz, xkey)


class _Connection:
    """One accepted socket: a reader task queues frames; turns run one after another."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, turn: Handler) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._turn = turn
        self._frames: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = asyncio.Event()
        self._history: OrderedDict[str, _Done] = OrderedDict()
        self._headers = [(n, v) for n, v in scope["headers"] if n not in _SOCKET_HEADERS
                         and not (n == b"openai-beta" and v.startswith(b"responses_websockets"))]
        beta = next((v.decode("latin-1") for n, v in scope["headers"]
                     if n == b"openai-beta" and v.startswith(b"responses_websockets")), None)
        self._link = SocketLink(beta)  # upstream sockets for turns to providers with a WebSocket mode

    async def run(self) -> None:
        reader = asyncio.create_task(self._read())
        drain: Drain | None = (self._scope.get("extensions") or {}).get(DRAIN)  # ws_protocol.py
        try:
            while (frame := await self._frames.get()) is not None:
                if drain is None:
                    await self._frame(frame)
                    continue
                if drain.stopped:  # the server is stopping: Codex sends this turn again on a new socket
                    break
                drain.begin()  # a shutdown now waits for this turn's answer
                try:
                    await self._frame(frame)
                finally:
                    drain.end()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await self._link.close()

    async def _read(self) -> None:
        """Reads the socket all the time, so that a client leaving mid-turn is noticed."""
        try:
            while True:
                msg = await self._receive()
                if msg["type"] == "websocket.receive":
                    text = msg.get("text")
                    if text is None:
                        text = (msg.get("bytes") or b"").decode("utf-8", "replace")
                    self._frames.put_nowait(text)
                elif msg["type"] == "websocket.disconnect":
                    return
        finally:
            self.closed.set()
            self._frames.put_nowait(None)

    async def emit(self, event: dict[str, Any] | bytes) -> None:
        if self.closed.is_set():
            return
        data = event if isinstance(event, bytes) else orjson.dumps(event)
        try:
            await self._send({"type": "websocket.send", "text": data.decode()})
        except Exception:  # the client went away between two frames
            self.closed.set()

    async def _frame(self, text: str) -> None:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            await self.emit(_error(400, "invalid_json", f"The frame is not valid JSON: {exc}."))
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "response.processed":  # Codex's acknowledgement of a completed response
            return
        if kind != "response.create":
            await self.emit(_error(400, "unknown_event_type", f"Unsupported event type {kind!r}; send "
                                    "`response.create` frames.", param="type"))
            return
        try:
            await self._create(frame)
        except Exception as exc:  # a bug must end this turn, not the connection
            log.exception("WebSocket turn failed")
            await self.emit(_error(500, "server_error", f"lockgate could not run this turn: {exc}",
                                    kind="server_error"))

    async def _create(self, frame: dict[str, Any]) -> None:
        model = frame.get("model")
        prior: list[Any] = []
        prev_id = frame.get("previous_response_id")
        if prev_id is not None:
            done = self._history.get(prev_id) if isinstance(prev_id, str) else None
            if done is None:
                await self.emit(_error(400, "previous_response_not_found",
                                        f"Previous response with id '{prev_id}' not found on this connection. "
                                        "Send the full input without previous_response_id.",
                                        param="previous_response_id"))
                return
            prior = done.items
            model = model or done.model  # a frame may leave the model out and keep the last one
        delta = frame.get("input")
        if isinstance(delta, str):
            delta = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": delta}]}]
        elif not isinstance(delta, list):
            delta = []
        full = prior + delta
        if frame.get("generate") is False:
            await self._prewarm(model if isinstance(model, str) else None, full)
            return
        body = {k: v for k, v in frame.items() if k not in _NOT_BODY}
        if model is not None:
            body["model"] = model
        body["input"] = full
        body["stream"] = True  # implicit over a socket
        # An upstream socket that still holds `prev_id` is sent only the new items (upstream_socket.py).
        self._link.chain = None if prev_id is None else Chain(prev_id, {
            **{k: v for k, v in frame.items() if k not in ("type", "generate")}, "input": delta})
        output = await self._run(body, frame.get("client_metadata"))
        if output is not None:
            rid, items = output
            self._remember(rid, _Done(model if isinstance(model, str) else None, full + items))

    async def _prewarm(self, model: str | None, full: list[Any]) -> None:
        """`generate: false`: a response id to chain from, with no model call and no log row."""
        rid = "resp_" + secrets.token_hex(16)
        resp: dict[str, Any] = {"id": rid, "object": "response", "created_at": int(time.time()),
                                "status": "in_progress", "model": model, "output": [], "usage": None}
        await self.emit({"type": "response.created", "sequence_number": 0, "response": resp})
        done = {**resp, "status": "completed", "usage": _ZERO_USAGE}
        await self.emit({"type": "response.completed", "sequence_number": 1, "response": done})
        self._remember(rid, _Done(model, full))

    def _remember(self, rid: str, done: _Done) -> None:
        self._history[rid] = done
        while len(self._history) > _REMEMBERED:
            self._history.popitem(last=False)

    async def _run(self, body: dict[str, Any], metadata: Any) -> tuple[str, list[Any]] | None:
        """One turn through the HTTPS handler; returns the response id and output items when it completed."""
        payload = orjson.dumps(body)
        turn = _Turn(self, payload)
        scope = {"type": "http", "asgi": self._scope.get("asgi", {"version": "3.0"}), "http_version": "1.1",
                 "method": "POST", "scheme": "https" if self._scope.get("scheme") == "wss" else "http",
                 "path": "/v1/responses", "raw_path": b"/v1/responses", "query_string": b"", "root_path": "",
                 "headers": self._turn_headers(metadata), "client": self._scope.get("client"),
                 "server": self._scope.get("server"), "extensions": {LINK: self._link}}
        await self._turn(scope, turn.receive, turn.send)
        await turn.finish()
        return turn.result()

    def _turn_headers(self, metadata: Any) -> list[tuple[bytes, bytes]]:
        """The upgrade's headers, with what Codex changes per turn taken from `client_metadata`."""
        headers = self._headers
        if isinstance(metadata, dict):
            per_turn: dict[bytes, bytes] = {}
            for key, value in metadata.items():
                if not isinstance(value, str):
                    continue
                if key in _METADATA_HEADERS:
                    per_turn[key.encode()] = value.encode()
                elif key.startswith(_WS_HEADER_PREFIX) and len(key) > len(_WS_HEADER_PREFIX):
                    per_turn[key[len(_WS_HEADER_PREFIX):].replace("_", "-").lower().encode()] = value.encode()
            if per_turn:
                headers = [(n, v) for n, v in headers if n not in per_turn] + list(per_turn.items())
        return [*headers, (b"content-type", b"application/json"), (b"accept", b"text/event-stream")]


class _Turn:
    """The synthetic ASGI request of one turn: its body in, its SSE answer out as frames."""

    __slots__ = ("_body", "_conn", "_error", "_headers", "_items", "_reader", "_response_id", "_sent_body",
                 "_status", "_terminal")

    def __init__(self, conn: _Connection, body: bytes) -> None:
        self._conn = conn
        self._body = body
        self._sent_body = False
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._reader: SseReader | None = None
        self._error: list[bytes] = []  # a non-stream answer (an error), sent as one frame at the end
        self._items: dict[int, Any] = {}
        self._response_id: str | None = None
        self._terminal: str | None = None

    async def receive(self) -> Message:
        if not self._sent_body:
            self._sent_body = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        await self._conn.closed.wait()  # the handler's disconnect watch waits here
        return {"type": "http.disconnect"}

    async def send(self, msg: Message) -> None:
        if msg["type"] == "http.response.start":
            self._status = msg["status"]
            ctype = next((v for n, v in msg.get("headers", ()) if n.lower() == b"content-type"), b"")
            if self._status < 300 and ctype.startswith(b"text/event-stream"):
                self._reader = SseReader()
            self._headers = msg.get("headers", [])
            return
        chunk: bytes = msg.get("body", b"")
        if self._reader is None:
            self._error.append(chunk)
            return
        events = self._reader.feed(chunk) if chunk else []
        if not msg.get("more_body", False):
            events += self._reader.close()
        for name, data in events:
            await self._event(name, data)

    async def _event(self, name: str | None, data: bytes) -> None:
        if not data or data == b"[DONE]":
            return
        kind = name or event_type(data)
        if kind == "response.output_item.done" or kind in _TERMINAL or self._response_id is None:
            # Only these few events are parsed: the history needs the items and the id.
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                event = None
            if isinstance(event, dict):
                self._note(event.get("type") or kind, event)
        await self._conn.emit(data)

    def _note(self, kind: str | None, event: dict[str, Any]) -> None:
        resp = event.get("response")
        if isinstance(resp, dict) and isinstance(resp.get("id"), str):
            self._response_id = resp["id"]
        if kind == "response.output_item.done" and isinstance(event.get("item"), dict):
            index = event.get("output_index")
            self._items[index if isinstance(index, int) else len(self._items)] = event["item"]
        elif kind in _TERMINAL:
            self._terminal = kind
            if not self._items and isinstance(resp, dict) and isinstance(resp.get("output"), list):
                self._items = dict(enumerate(resp["output"]))

    async def finish(self) -> None:
        """A turn answered with an HTTP error: one `error` frame, which Codex reads as that HTTP status."""
        if self._reader is not None or not self._status:
            return
        raw = b"".join(self._error)
        try:
            parsed = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            parsed = {}
        if self._status < 300 and isinstance(parsed, dict) and parsed.get("object") == "response":
            # A JSON response where a stream was asked for: still one completed event.
            self._note("response.completed", {"response": parsed})
            await self._conn.emit({"type": "response.completed", "sequence_number": 0, "response": parsed})
            return
        err = parsed.get("error") if isinstance(parsed, dict) else None
        if not isinstance(err, dict):
            err = {"type": "upstream_error", "code": None, "message": raw[:2000].decode("utf-8", "replace")}
        event: dict[str, Any] = {"type": "error", "status": self._status, "error": err}
        retry = next((v for n, v in self._headers if n.lower() == b"retry-after"), None)
        if retry is not None:
            event["headers"] = {"retry-after": retry.decode("latin-1")}
        await self._conn.emit(event)

    def result(self) -> tuple[str, list[Any]] | None:
        if self._terminal not in ("response.completed", "response.incomplete") or self._response_id is None:
            return None
        return self._response_id, [self._items[i] for i in sorted(self._items)]


def _error(status: int, code: str, message: str, param: str | None = None,
           kind: str = "invalid_request_error") -> dict[str, Any]:
    """An in-band error frame, as OpenAI sends them on this socket (Codex maps `status` like HTTP's)."""
    return {"type": "error", "status": status,
            "error": {"type": kind, "code": code, "message": message, "param": param}}
