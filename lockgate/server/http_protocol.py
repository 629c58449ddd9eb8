"""uvicorn's httptools protocol, with the response head sent in the same write as the body.

uvicorn writes the status line and headers at `http.response.start` and the body at
`http.response.body`: two writes, two segments, and a client that wakes up for the head
alone and again for the body. aiohttp holds the head back until the first body bytes.
This does the same at the transport: the head waits until the next write of the same
loop turn (the body, or a stream's first chunk when it is already there), and goes out
alone at the end of the turn otherwise, so nothing is ever delayed for longer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HeadCoalescingProtocol"]

_COPY_LIMIT = 64 * 1024  # below this, one joined buffer; above, writelines (no copy)


class _HeadCoalescingTransport:
    __slots__ = ("_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if len(data) < _COPY_LIMIT:
                self._transport.write(head + bytes(data))
            else:
                self._transport.writelines((head, data))
        elif data[:9] == b"HTTP/1.1 " and data[-4:] == b"\r\n\r\n" and data[9:12] != b"100":
            self._head = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeadCoalescingProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped: Any = _HeadCoalescingTransport(transport, self.loop)
        super().connection_made(wrapped)
