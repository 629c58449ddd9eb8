"""The request path for OpenAI-shaped APIs whose provider speaks them natively.

auth → read body → peek model/stream → route → forward the bytes (model spliced in
when it changes) → stream the upstream's bytes back as they arrive while a tap reads
usage → put one LogRecord on the sink without waiting.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import aiohttp
from yarl import URL

from lockgate.errors import (
    GatewayError,
    InvalidRequest,
    UnsupportedRoute,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from lockgate.observe.record import LogRecord
from lockgate.observe.tap import SseTap
from lockgate.providers.base import Provider
from lockgate.server.asgi_io import JSON_HEADERS, Receive, Scope, Send, read_body, send_bytes, watch_disconnect
from lockgate.server.body import ensure_include_usage, peek, replace_model
from lockgate.server.context import GatewayContext
from lockgate.server.headers import (
    AUTH_HEADERS,
    CODEX_HEADERS,
    OWN_PREFIXES,
    client_request_id,
    codex_session,
    id_headers,
    read_meta,
)
from lockgate.server.ids import new_request_id
from lockgate.server.streaming import UsageStripper, stream_error_event
from lockgate.server.upstream_errors import UpstreamStatus
from lockgate.server.upstream_socket import LINK, SocketLink, UpstreamTurn

if TYPE_CHECKING:
    from lockgate.server.translate import Translator

__all__ = ["Endpoint", "Passthrough"]

# Never forwarded in either direction: hop-by-hop, recomputed, or the gateway's own.
_DROP_REQUEST = frozenset({b"host", b"connection", b"keep-alive", b"transfer-encoding", b"content-length",
                           b"authorization", b"x-api-key", b"api-key", b"accept-encoding", b"te", b"upgrade",
                           b"proxy-authorization", b"proxy-connection", b"expect"})
_DROP_RESPONSE = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length",
                            b"content-encoding", b"date", b"server", b"upgrade", b"trailer"})
_RESP_ID_RE = re.compile(rb'"id"\s*:\s*"(resp[_-][^"]+)"')


@dataclass(frozen=True, slots=True)
class Endpoint:
    api: str  # label in the log and the native-API check: responses | chat | embeddings
    upstream_path: str  # path below the provider's base URL
    json_body: bool = True  # False: sub-resources routed by response id, not by model
    errors: Literal["openai", "anthropic"] = "openai"  # the shape of the gateway's own errors
    native: str = ""  # the provider API that must be present to pass through (default: `api`)


class Passthrough:
    def __init__(self, ctx: GatewayContext) -> None:
        self._ctx = ctx
        # Parsed upstream URLs: aiohttp would parse the string again on every request.
        self._urls: dict[tuple[str, str, str, bool], URL] = {}
        self._translator_obj: Translator | None = None

    async def handle(self, scope: Scope, receive: Receive, send: Send, ep: Endpoint,
                     response_id: str | None = None) -> None:
        ctx = self._ctx
        t0 = time.perf_counter()
        rec = LogRecord(id="", ts=time.time(), method=scope["method"], path=scope["path"], api=ep.api)
        forward: list[tuple[str, str]] = []
        own: list[tuple[bytes, bytes]] = []
        authz = xkey = None
        codex: dict[str, str] | None = None
        for name, value in scope["headers"]:
            if name.startswith(OWN_PREFIXES):
                own.append((name, value))
            elif name == b"authorization":
                authz = value.decode("latin-1")
            elif name == b"x-api-key":
                xkey = value.decode("latin-1")
            elif name not in _DROP_REQUEST:
                text = name.decode("latin-1")
                forward.append((text, value.decode("latin-1")))
                if name in CODEX_HEADERS:  # Codex's thread and turn: the session (one set lookup per header)
                    if codex is None:
                        codex = {}
                    codex[text] = value.decode("utf-8", "replace")
            if name == b"user-agent":
                rec.user_agent = value.decode("latin-1")
            elif name == b"traceparent":  # still forwarded; the span (observe/traces.py) uses it as parent
                rec.traceparent = value.decode("latin-1")
        gateway_auth = None
        if own:
            rec.meta = read_meta(own)
            gateway_auth = next((v.decode("latin-1") for n, v in own if n in AUTH_HEADERS), None)
        if codex is not None:
            codex_session(rec.meta, codex)
        rec.id = (client_request_id(rec.meta) if own else None) or new_request_id()
        rid_headers = id_headers(rec.id)
        client = scope.get("client")
        rec.client_ip = client[0] if client else None
        started = False
        watch = None
        try:
            if gateway_auth is not None:
                # Helicone-Auth carries the gateway key; Authorization / x-api-key are then the
                # caller's own provider key, forwarded instead of the configured one (never logged).
                key = await ctx.authenticate(gateway_auth, None)
                own_key = [(n, v) for n, v in (("Authorization", authz), ("x-api-key", xkey)) if v is not None]
                if own_key:
                    rec.key_source = "client"
            else:
                key = await ctx.authenticate(authz, xkey)
                own_key = []
            if key is not None:
                rec.key_id, rec.key_name = key.id, key.name
            body = await read_body(receive, ctx.settings.server.max_body_bytes)
            rec.request_bytes = len(body)
            rec.request_body = body
            strip_usage = False
            if ep.json_body:
                p = peek(body)
                if not p.model:
                    raise InvalidRequest("You must provide a model parameter.", param="model",
                                         code="missing_required_parameter")
                rec.model_requested = p.model
                route = ctx.router.resolve(p.model)
                provider = ctx.providers[route.provider]
                rec.stream = p.stream is True
                if (ep.native or ep.api) not in provider.apis:
                    if ep.api == "count_tokens":
                        rec.provider, rec.model_resolved = provider.name, route.model
                        await self._translator().count_tokens(send, rec, body, rid_headers)
                        started = True
                        return
                    if not self._translator().translatable(ep.api, provider, route.model):
                        raise UnsupportedRoute(
                            f"The model `{p.model}` is served by provider `{provider.name}`, which does not speak "
                            f"the {ep.api} API and cannot be reached from it.", param="model")
                    rec.provider, rec.model_resolved = provider.name, route.model
                    watch = watch_disconnect(receive)
                    auth = provider.client_key_headers(own_key) if own_key else provider.auth_headers()
                    await self._translator().run(send, rec, body, ep.api, provider, route.model, forward, auth,
                                               rid_headers, t0)
                    started = True
                    return
                rec.provider, rec.model_resolved = provider.name, route.model
                if route.model != p.model:
                    body = replace_model(body, p.model, route.model)
                if rec.stream and ep.api == "chat":
                    body, strip_usage = ensure_include_usage(body, p.stream_options)
                url = self._url(provider, ep.api, route.model, rec.stream)
            else:
                provider = await ctx.provider_for_response(response_id or "")
                rec.provider = provider.name
                sub_url = provider.url(ep.upstream_path)
                if scope.get("query_string"):
                    sub_url += "?" + scope["query_string"].decode("latin-1")
                url = URL(sub_url)
            auth = provider.client_key_headers(own_key) if own_key else provider.auth_headers()
            if ep.api == "messages":
                # The caller's anthropic-version / -beta say what its SDK expects; they win over the provider's.
                sent = {k for k, _ in forward}
                auth = [(k, v) for k, v in auth if k not in sent]
            headers = forward + auth
            watch = watch_disconnect(receive)
            socket_turn = None
            if rec.stream and ep.api == "responses" and provider.websocket_url is not None:
                link: SocketLink | None = (scope.get("extensions") or {}).get(LINK)  # a WebSocket turn
                if link is not None and link.usable(provider):
                    socket_turn = await link.start(ctx.session, provider, headers, body, rec.model_resolved or "",
                                                   ctx.settings.upstream.read_timeout)
            async with socket_turn or ctx.session.request(scope["method"], url, data=body if body else None,
                                                          headers=headers) as resp:
                rec.upstream_request_id = resp.headers.get("x-request-id")
                out_headers = [(k.lower(), v) for k, v in resp.raw_headers if k.lower() not in _DROP_RESPONSE]
                out_headers += rid_headers
                rec.status = resp.status
                rec.content_type = resp.headers.get("content-type")
                if rec.stream and resp.status < 300 and (rec.content_type or "").startswith("text/event-stream"):
                    started = True
                    await self._stream(resp, send, out_headers, rec, ep.api, strip_usage, t0)
                else:
                    rec.ttfb_ms = (time.perf_counter() - t0) * 1000
                    data = await resp.read()
                    rec.response_bytes = len(data)
                    rec.response_body = [data]
                    if resp.status < 300:
                        rec.usage_source = [data]
                        if ep.api == "responses" and (m := _RESP_ID_RE.search(data, 0, 300)):
                            rec.response_id = m.group(1).decode()
                    else:
                        rec.error_type = "upstream_status"
                        rec.error = data[:2000].decode("utf-8", "replace")
                    watch.finished = True
                    started = True
                    await send_bytes(send, resp.status, data, out_headers)
        except GatewayError as exc:
            self._fail(rec, exc)
            if not started:
                await _send_error(send, ep, exc, rid_headers)
        except asyncio.CancelledError:
            if watch is None or not watch.disconnected:
                rec.status, rec.error_type = 499, "cancelled"
                raise
            rec.status, rec.error_type, rec.error = 499, "client_disconnected", "client closed the connection"
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except (TimeoutError, aiohttp.ClientError) as exc:
            err = _upstream_error(exc, rec.provider)
            self._fail(rec, err)
            if not started:
                await _send_error(send, ep, err, rid_headers)
        finally:
            if watch is not None:
                watch.close()
            rec.latency_ms = (time.perf_counter() - t0) * 1000
            if rec.response_id and rec.provider:
                ctx.responses.remember(rec.response_id, rec.provider)
            ctx.sink.submit(rec)

    async def _stream(self, resp: aiohttp.ClientResponse | UpstreamTurn, send: Send, headers: list[tuple[bytes, bytes]],
                      rec: LogRecord, api: str, strip_usage: bool, t0: float) -> None:
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        tap = SseTap(self._ctx.settings.log.max_body_bytes, dialect=api)
        stripper = UsageStripper() if strip_usage else None
        try:
            async for chunk in resp.content.iter_any():
                if rec.ttfb_ms is None:
                    rec.ttfb_ms = (time.perf_counter() - t0) * 1000
                tap.feed(chunk)
                out = stripper.feed(chunk) if stripper else chunk
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            tap.finish()
            tail = stripper.flush() if stripper else b""
            if not tap.terminal:
                # The upstream closed without its terminal event: say so in the inbound format.
                rec.status, rec.error_type = 502, "upstream_incomplete_stream"
                rec.error = "upstream closed the stream before its terminal event"
                tail += stream_error_event(api, rec.error, "upstream_incomplete_stream", tap.response_id)
        except (TimeoutError, aiohttp.ClientError) as exc:
            err = _upstream_error(exc, rec.provider)
            if not isinstance(exc, TimeoutError):
                err = UpstreamUnreachable(f"Provider `{rec.provider}` broke off the stream: {exc}",
                                          code="upstream_incomplete_stream")
            self._fail(rec, err)
            tail = stream_error_event(api, err.message, err.code or "upstream_error", tap.response_id)
        finally:
            self._collect(rec, tap, t0)
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    def _translator(self) -> Translator:
        """Translation, loaded on the first request that needs it: the IR and the fitting code
        cost ~11 ms of start-up that a passthrough-only gateway never uses."""
        if self._translator_obj is None:
            from lockgate.server.translate import Translator

            self._translator_obj = Translator(self._ctx)
        return self._translator_obj

    def _url(self, provider: Provider, api: str, model: str, stream: bool) -> URL:
        key = (provider.name, api, model, stream)
        url = self._urls.get(key)
        if url is None:
            url = URL(provider.request_url(api, model, stream))
            if len(self._urls) < 10_000:
                self._urls[key] = url
        return url

    @staticmethod
    def _collect(rec: LogRecord, tap: SseTap, t0: float) -> None:
        rec.response_bytes = tap.size
        rec.response_body = tap.body
        rec.response_truncated = tap.truncated
        rec.usage_source = tap.kept
        rec.response_id = tap.response_id
        if tap.first_token_at is not None:
            rec.ttft_ms = (tap.first_token_at - t0) * 1000

    @staticmethod
    def _fail(rec: LogRecord, exc: GatewayError) -> None:
        rec.status = exc.status
        rec.error_type = exc.code or exc.type
        rec.error = exc.message


async def _send_error(send: Send, ep: Endpoint, exc: GatewayError, rid_headers: list[tuple[bytes, bytes]]) -> None:
    """The gateway's own error (or a translated provider's) in the caller's API shape."""
    headers = [*JSON_HEADERS, *rid_headers]
    status = exc.status
    if isinstance(exc, UpstreamStatus):
        if exc.retry_after:
            headers.append((b"retry-after", exc.retry_after.encode("latin-1")))
        if ep.errors == "openai":
            status = exc.openai_status()
    body = exc.anthropic_body() if ep.errors == "anthropic" else exc.openai_body()
    await send_bytes(send, status, body, headers)


def _upstream_error(exc: BaseException, provider: str | None) -> GatewayError:
    name = provider or "upstream"
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"Provider `{name}` sent nothing for too long (upstream.read_timeout).")
    return UpstreamUnreachable(f"Provider `{name}` could not be reached or dropped the connection: {exc}")

