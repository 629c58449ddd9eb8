"""GET /metrics: the Prometheus exposition, behind a gateway key unless made public.

Scrapes are not logged as requests (one every 15 s would crowd the log). The exposition
is rendered in the default executor so that a large one never holds the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from lockgate.errors import GatewayError
from lockgate.server.asgi_io import JSON_HEADERS, Receive, Scope, Send, send_bytes
from lockgate.server.context import GatewayContext

__all__ = ["MetricsEndpoint", "MetricsSource"]


class MetricsSource(Protocol):
    def render(self, accept: str | None = None) -> tuple[bytes, str]: ...


class MetricsEndpoint:
    def __init__(self, ctx: GatewayContext, metrics: MetricsSource, public: bool) -> None:
        self._ctx = ctx
        self._metrics = metrics
        self._public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        try:
            if not self._public:
                await self._ctx.authenticate(_text(headers.get(b"authorization")), _text(headers.get(b"x-api-key")))
        except GatewayError as exc:
            await send_bytes(send, exc.status, exc.openai_body(), JSON_HEADERS)
            return
        body, content_type = await asyncio.get_running_loop().run_in_executor(
            None, self._metrics.render, _text(headers.get(b"accept")))
        await send_bytes(send, 200, body, [(b"content-type", content_type.encode("latin-1"))])


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None
