"""Runs a fake upstream's aiohttp app on 127.0.0.1 in a thread with its own event loop,
so that sync and async tests (and the gateway process) can share one instance."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

__all__ = ["REC_KEY", "LoopbackServer", "RecordedRequest"]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    disconnected: bool = False

    def json(self) -> Any:
        return orjson.loads(self.body)


REC_KEY: web.RequestKey[RecordedRequest] = web.RequestKey("rec", RecordedRequest)


class LoopbackServer:
    """Subclasses build their app in `_app()` and set their URLs in `_bound(port)`."""

    _thread_name = "fake-upstream"
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock
    requests: list[RecordedRequest]

    async def _remember(self, request: web.Request) -> RecordedRequest:
        """Record a request (tests read `requests`) and attach it to the request as REC_KEY."""
        rec = RecordedRequest(request.method, request.path, request.query_string,
                              {k.lower(): v for k, v in request.headers.items()}, await request.read())
        with self._lock:
            self.requests.append(rec)
        request[REC_KEY] = rec
        return rec

    def _app(self) -> web.Application:
        raise NotImplementedError

    def _bound(self, port: int) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        ready = threading.Event()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        # Each answer goes out in one write; without NODELAY, Nagle and delayed ACK add 40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._bound(int(sock.getsockname()[1]))

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            runner = web.AppRunner(self._app(), handle_signals=False, access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=self._thread_name, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
