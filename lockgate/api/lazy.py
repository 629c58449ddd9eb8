"""The management API, built on its first request: the gateway starts without importing it."""

from __future__ import annotations

from lockgate.api.router import ApiContext, ApiRouter
from lockgate.server.asgi_io import Receive, Scope, Send

__all__ = ["LazyApi"]


class LazyApi:
    def __init__(self, ctx: ApiContext) -> None:
        self._ctx = ctx
        self._router: ApiRouter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._router is None:
            from lockgate.api.app import build_api  # its modules cost ~15 ms and ~1 MB at start-up

            self._router = build_api(self._ctx)
        await self._router(scope, receive, send)
