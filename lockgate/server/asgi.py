"""The ASGI application: the route table, lifespan, and error rendering at the edge.

Raw ASGI, no framework: a dict lookup per request, then the handler.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson

from lockgate.errors import GatewayError, NotFound
from lockgate.observe.record import LogRecord
from lockgate.server.asgi_io import JSON_HEADERS, Receive, Scope, Send, send_bytes
from lockgate.server.codex_catalog import catalog_body
from lockgate.server.context import GatewayContext
from lockgate.server.headers import id_headers
from lockgate.server.ids import new_request_id
from lockgate.server.model_list import model_body, model_list_body
from lockgate.server.passthrough import Endpoint, Passthrough
from lockgate.server.responses_ws import ResponsesSocket, refuse

__all__ = ["GatewayApp"]

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
Lifecycle = Callable[[], Awaitable[None]]

_SUBRESOURCES: dict[tuple[str, str], str] = {
    ("GET", ""): "responses.retrieve",
    ("DELETE", ""): "responses.delete",
    ("GET", "input_items"): "responses.input_items",
    ("POST", "cancel"): "responses.cancel",
}


class GatewayApp:
    def __init__(self, ctx: GatewayContext, startup: Lifecycle, shutdown: Lifecycle,
                 api: Handler | None = None, api_prefixes: tuple[str, ...] = (),
                 metrics: Handler | None = None) -> None:
        self._ctx = ctx
        self._api = api
        self._api_prefixes = api_prefixes
        self._startup = startup
        self._shutdown = shutdown
        proxy = Passthrough(ctx)
        self._proxy = proxy

        def forward(ep: Endpoint) -> Handler:
            async def handler(scope: Scope, receive: Receive, send: Send) -> None:
                await proxy.handle(scope, receive, send, ep)
            return handler

        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/responses"): forward(Endpoint("responses", "/responses")),
            ("POST", "/v1/chat/completions"): forward(Endpoint("chat", "/chat/completions")),
            ("POST", "/v1/embeddings"): forward(Endpoint("embeddings", "/embeddings")),
            ("POST", "/v1/messages"): forward(Endpoint("messages", "/messages", errors="anthropic")),
            ("POST", "/v1/messages/count_tokens"): forward(
                Endpoint("count_tokens", "/messages/count_tokens", errors="anthropic", native="messages")),
            ("GET", "/v1/models"): self._models,
            ("GET", "/v1/codex/models"): self._codex_models,  # Codex's model_catalog_url
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
        }
        if metrics is not None:
            self._routes[("GET", "/metrics")] = metrics  # Prometheus (server/metrics_route.py)
        self._paths = {path for _, path in self._routes}
        # WebSocket mode of /v1/responses (server/responses_ws.py): each turn runs the POST handler.
        self._socket = ResponsesSocket(ctx, self._routes[("POST", "/v1/responses")]) \
            if ctx.settings.server.websockets else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        handler = self._routes.get((method, path))
        if handler is not None:
            await handler(scope, receive, send)
            return
        if path.startswith("/v1/responses/"):
            parts = path[len("/v1/responses/"):].split("/")
            sub = parts[1] if len(parts) == 2 else ""
            api = _SUBRESOURCES.get((method, sub)) if parts[0] and len(parts) <= 2 else None
            if api is not None:
                ep = Endpoint(api, path[len("/v1"):], json_body=False)
                await self._proxy.handle(scope, receive, send, ep, response_id=parts[0])
                return
        if method == "GET" and path.startswith("/v1/models/"):
            await self._model(scope, receive, send, path[len("/v1/models/"):])
            return
        if self._api is not None and path.startswith(self._api_prefixes):
            await self._api(scope, receive, send)  # the management API (lockgate/api/)
            return
        if path in self._paths:
            err: GatewayError = NotFound(f"Method {method} is not allowed on {path}.", code="method_not_allowed")
            err.status = 405
        else:
            err = NotFound(f"Unknown request URL: {method} {path}.", code="unknown_url")
        await send_bytes(send, err.status, err.openai_body(), JSON_HEADERS)

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._local(scope, send, "models", lambda: model_list_body(self._ctx.router))

    async def _codex_models(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._local(scope, send, "models.codex", lambda: catalog_body(self._ctx.settings))

    async def _model(self, scope: Scope, receive: Receive, send: Send, model_id: str) -> None:
        await self._local(scope, send, "models.retrieve", lambda: model_body(self._ctx.router, model_id))

    async def _local(self, scope: Scope, send: Send, api: str, build: Callable[[], bytes]) -> None:
        """Answer from the gateway itself (auth and logging as for proxied calls)."""
        t0 = time.perf_counter()
        rec = LogRecord(id=new_request_id(), ts=time.time(), method=scope["method"], path=scope["path"], api=api)
        headers = dict(scope["headers"])
        rid = id_headers(rec.id)
        try:
            key = await self._ctx.authenticate(_text(headers.get(b"authorization")), _text(headers.get(b"x-api-key")))
            if key is not None:
                rec.key_id, rec.key_name = key.id, key.name
            body = build()
            rec.status, rec.response_body, rec.response_bytes = 200, [body], len(body)
            await send_bytes(send, 200, body, [*JSON_HEADERS, *rid])
        except GatewayError as exc:
            rec.status, rec.error_type, rec.error = exc.status, exc.code or exc.type, exc.message
            await send_bytes(send, exc.status, exc.openai_body(), [*JSON_HEADERS, *rid])
        finally:
            rec.latency_ms = (time.perf_counter() - t0) * 1000
            self._ctx.sink.submit(rec)

    async def _healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, 200, b'{"status":"ok"}', JSON_HEADERS)

    async def _readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        ok = self._ctx.ready
        body = orjson.dumps({"status": "ready" if ok else "not ready"})
        await send_bytes(send, 200 if ok else 503, body, JSON_HEADERS)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/v1/responses" and self._socket is not None:
            await self._socket(scope, receive, send)
        elif self._socket is None:
            # Codex tries a WebSocket first and falls back to HTTPS at once on 426.
            body = NotFound("WebSocket mode is off on this gateway (server.websockets); use HTTPS.",
                            code="websocket_not_supported").openai_body()
            await refuse(scope, receive, send, 426, body)
        else:
            body = NotFound(f"Unknown WebSocket URL: {scope['path']}.", code="unknown_url").openai_body()
            await refuse(scope, receive, send, 404, body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self._startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                try:
                    await self._shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None
