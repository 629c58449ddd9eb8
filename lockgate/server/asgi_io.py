"""Raw ASGI plumbing: read a body with a limit, send whole responses, watch for disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lockgate.errors import PayloadTooLarge

__all__ = ["Receive", "Scope", "Send", "read_body", "send_bytes", "watch_disconnect"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]


async def read_body(receive: Receive, limit: int) -> bytes:
    first = await receive()
    body: bytes = first.get("body", b"")
    if not first.get("more_body"):
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.")
        return body
    parts = [body]
    size = len(body)
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.")
        parts.append(chunk)
        if not msg.get("more_body"):
            return b"".join(parts)


async def send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class DisconnectWatch:
    """Cancels the request's task when the client goes away before the response is done.

    Watching needs a task that waits on `receive()`. Most responses are done long before a
    client could give up, so the task starts only after `delay`: a timer costs a fraction
    of a task that is created, run and cancelled on every request."""

    __slots__ = ("_handle", "_owner", "_receive", "_task", "disconnected", "finished")

    def __init__(self, receive: Receive, delay: float) -> None:
        self.disconnected = False
        self.finished = False
        self._receive = receive
        self._owner = asyncio.current_task()
        self._task: asyncio.Task[None] | None = None
        self._handle: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(delay, self._start)

    def _start(self) -> None:
        self._handle = None
        if not self.finished:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            msg = await self._receive()
            if msg["type"] == "http.disconnect":
                if not self.finished and self._owner is not None:
                    self.disconnected = True
                    self._owner.cancel()
                return

    def close(self) -> None:
        self.finished = True
        if self._handle is not None:
            self._handle.cancel()
        if self._task is not None:
            self._task.cancel()


def watch_disconnect(receive: Receive, delay: float = 0.02) -> DisconnectWatch:
    return DisconnectWatch(receive, delay)
