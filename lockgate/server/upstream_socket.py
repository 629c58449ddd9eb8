"""WebSocket turns to a provider that serves the Responses API's WebSocket mode (OpenAI, Azure v1, xAI).

A client socket (server/responses_ws.py) owns a `SocketLink`. When one of its turns routes to
such a provider, the HTTPS handler asks the link for an `UpstreamTurn` instead of POSTing. The
link keeps one upstream socket per provider for the life of the client socket, so a chained
turn sends only its new items with `previous_response_id` (the upstream keeps its last
response in memory, even with `store: false`) instead of the whole conversation. The turn's
events come back as SSE bytes, so the tap, the log and the client socket see exactly what an
HTTPS turn gives them.

No turn is lost to this path: when the upstream no longer has the chained response, or its
socket closed or reached its time limit (60 minutes at OpenAI), the turn goes again in full on
a new socket; when no socket can be opened, the turn (and the rest of the client socket's
turns to that provider) goes over HTTPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from lockgate.formats.sse import event_type
from lockgate.providers.base import Provider

__all__ = ["LINK", "Chain", "SocketLink", "UpstreamTurn"]

log = logging.getLogger("lockgate.ws")

LINK = "lockgate.upstream_socket"  # the client socket's SocketLink in a turn's scope["extensions"]
DEFAULT_BETA = "responses_websockets=2026-02-06"

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_CHAINABLE = frozenset({"response.completed", "response.incomplete"})
# In-band errors after which the same turn, sent whole on a fresh socket, can still succeed.
_RESEND = frozenset({"previous_response_not_found", "websocket_connection_limit_reached"})
_NOT_UPGRADE = frozenset({"content-type", "accept", "openai-beta"})
_RESP_ID = re.compile(rb'"id"\s*:\s*"(resp[_-][^"]+)"')
_STREAM_HEADERS = ((b"content-type", b"text/event-stream"),)


@dataclass(slots=True)
class Chain:
    """What the client sent for a chained turn: its new items and the response they follow."""

    previous_response_id: str
    frame: dict[str, Any]  # the client's frame fields with the delta input, without `type`


class _Socket:
    __slots__ = ("last_id", "ws")

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.last_id: str | None = None  # the response the upstream can chain from on this socket


class SocketLink:
    """One client socket's upstream sockets, one per provider, opened on first use."""

    def __init__(self, beta: str | None) -> None:
        self._beta = beta or DEFAULT_BETA
        self._sockets: dict[str, _Socket] = {}
        self._refused: set[str] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.chain: Chain | None = None  # set by the client socket before each turn

    def usable(self, provider: Provider) -> bool:
        return provider.websocket_url is not None and provider.name not in self._refused

    async def start(self, session: aiohttp.ClientSession, provider: Provider, headers: list[tuple[str, str]],
                    body: bytes, model: str, read_timeout: float) -> UpstreamTurn | None:
        """Send a turn and wait for its first event; None when it has to go over HTTPS instead."""
        chain, self.chain = self.chain, None
        full = b""  # the whole turn as a frame, made only when it has to be sent (it can be 100s of KB)
        sock = self._sockets.get(provider.name)
        delta: bytes | None = None
        if chain is not None and sock is not None and sock.last_id == chain.previous_response_id:
            delta = orjson.dumps({**chain.frame, "type": "response.create", "model": model})
        for _ in range(3):
            if sock is None or sock.ws.closed:
                self._drop(provider.name)
                sock = await self._open(session, provider, headers)
                if sock is None:
                    return None
                delta = None
            if delta is None and not full:
                full = b'{"type":"response.create",' + body[1:]  # `body` is the turn's whole JSON object
            sent, delta = delta or full, None
            sock.last_id = None
            try:
                await sock.ws.send_frame(sent, aiohttp.WSMsgType.TEXT)
                first = await _next(sock, read_timeout)
            except (aiohttp.ClientError, ConnectionError):
                first = None  # the socket died while idle: the same turn on a new one
            except BaseException:  # a timeout or the client leaving: the socket's state is unknown
                self._drop(provider.name)
                raise
            if first is None:
                self._drop(provider.name)
                sock = None
                continue
            if event_type(first) != "error":
                return UpstreamTurn(self, provider.name, sock, first, read_timeout)
            err = _error_of(first)
            if err.get("code") in _RESEND:
                if err.get("code") == "websocket_connection_limit_reached" or sent is full:
                    self._drop(provider.name)
                    sock = None
                continue  # a chained turn the upstream lost: sent whole on the same socket
            return UpstreamTurn.failed(first)
        return None

    async def _open(self, session: aiohttp.ClientSession, provider: Provider,
                    headers: list[tuple[str, str]]) -> _Socket | None:
        url = provider.websocket_url
        assert url is not None
        upgrade = [(k, v) for k, v in headers if k.lower() not in _NOT_UPGRADE] + [("openai-beta", self._beta)]
        try:
            # decode_text=False: frames stay bytes, for the tap and the client socket as they are.
            ws = await session.ws_connect(url, headers=upgrade, max_msg_size=0, decode_text=False,
                                          timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Refused (426/404: no WebSocket mode there), or unreachable: HTTPS from now on for this
            # client socket, which also gives the client the provider's own error if there is one.
            log.info("no WebSocket to provider %s (%s); using HTTPS", provider.name, exc)
            self._refused.add(provider.name)
            return None
        sock = _Socket(ws)  # type: ignore[arg-type]  # ClientWebSocketResponse[False]: bytes frames
        self._sockets[provider.name] = sock
        return sock

    def _drop(self, name: str) -> None:
        """Forget a socket whose state is unknown (closed, mid-response); close it in the background."""
        sock = self._sockets.pop(name, None)
        if sock is not None and not sock.ws.closed:
            task = asyncio.get_running_loop().create_task(_close(sock.ws))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def finished(self, name: str, sock: _Socket, kind: str | None, response_id: str | None) -> None:
        """A turn ended; a completed one is what the next chained turn may follow on this socket."""
        if self._sockets.get(name) is sock:
            sock.last_id = response_id if kind in _CHAINABLE else None

    def broken(self, name: str, sock: _Socket) -> None:
        if self._sockets.get(name) is sock:
            self._drop(name)

    async def close(self) -> None:
        for name in list(self._sockets):
            self._drop(name)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


class UpstreamTurn:
    """One turn's answer from an upstream socket, shaped like the aiohttp response the HTTPS path reads."""

    def __init__(self, link: SocketLink | None, name: str, sock: _Socket | None, first: bytes,
                 read_timeout: float, status: int = 200, headers: tuple[tuple[bytes, bytes], ...] = _STREAM_HEADERS,
                 body: bytes = b"") -> None:
        self._link = link
        self._name = name
        self._sock = sock
        self._first = first
        self._timeout = read_timeout
        self._done = sock is None
        self._body = body
        self.status = status
        self.raw_headers = headers
        self.headers: CIMultiDict[str] = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)
        self.content = self

    @classmethod
    def failed(cls, frame: bytes) -> UpstreamTurn:
        """An `error` event in place of a response: the HTTP error it stands for (Codex reads it so)."""
        try:
            parsed = orjson.loads(frame)
        except orjson.JSONDecodeError:
            parsed = {}
        status = parsed.get("status") if isinstance(parsed, dict) else None
        if not isinstance(status, int) or not 400 <= status < 600:
            status = 400
        headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
        extra = parsed.get("headers") if isinstance(parsed, dict) else None
        if isinstance(extra, dict):
            headers += [(str(k).lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in extra.items()
                        if str(k).lower() in ("retry-after", "x-request-id")]
        return cls(None, "", None, b"", 0.0, status, tuple(headers), orjson.dumps({"error": _error_of(frame)}))

    async def read(self) -> bytes:
        return self._body

    async def iter_any(self) -> AsyncIterator[bytes]:
        assert self._link is not None and self._sock is not None
        data, response_id = self._first, None
        while True:
            kind = event_type(data)
            if response_id is None and (m := _RESP_ID.search(data, 0, 300)):
                response_id = m.group(1).decode()
            yield b"data: " + data + b"\n\n"
            if kind in _TERMINAL:
                self._done = True
                self._link.finished(self._name, self._sock, kind, response_id)
                return
            nxt = await _next(self._sock, self._timeout)
            if nxt is None:
                raise aiohttp.ServerDisconnectedError("the upstream closed its WebSocket in the middle of a response")
            data = nxt

    async def __aenter__(self) -> UpstreamTurn:
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if not self._done and self._link is not None and self._sock is not None:
            # Cut off mid-response (client gone, timeout): the rest must not leak into the next turn.
            self._link.broken(self._name, self._sock)


async def _next(sock: _Socket, timeout: float) -> bytes | None:
    """The next event's JSON; None when the socket closed."""
    while True:
        msg = await sock.ws.receive(timeout)
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            data = msg.data
            return data if isinstance(data, bytes) else str(data).encode()
        if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            continue
        return None


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):
        await ws.close()


def _error_of(frame: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(frame)
    except orjson.JSONDecodeError:
        parsed = None
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict):
        return err
    return {"type": "upstream_error", "code": None, "message": frame[:2000].decode("utf-8", "replace")}
