"""The request path when the provider does not speak the caller's API.

decode (caller's format → IR) → fit (formats/fit.py) → encode (IR → provider's format) →
upstream → decode the answer or stream → restore what fitting changed → encode in the
caller's format. Streams go event by event through a state machine of each format, and
always end with the caller's terminal event.

Contract with `Passthrough.handle`, which calls `run`: any exception other than
cancellation leaves `run` before a byte was sent to the client, so the caller can still
answer with an error; once the response has started, errors end the stream in the
caller's format instead.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
from yarl import URL

from lockgate import ir
from lockgate.errors import InvalidRequest, UnsupportedRoute, UpstreamTimeout, UpstreamUnreachable
from lockgate.formats.compaction import (
    compaction_item,
    expand_compactions,
    is_compaction_request,
    summary_request,
    summary_text,
)
from lockgate.formats.fit import Fitted, StreamRestorer, fit_request, restore_response
from lockgate.formats.registry import client_format, provider_format, target_api
from lockgate.formats.sse import SseReader
from lockgate.observe.record import LogRecord
from lockgate.providers.base import Provider
from lockgate.server.asgi_io import Send, send_bytes
from lockgate.server.context import GatewayContext
from lockgate.server.upstream_errors import UpstreamStatus, from_upstream

__all__ = ["Translator", "translatable"]

_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
# Client headers that belong to one API family: forwarded only to a provider of that family.
_FAMILY_PREFIXES = {"openai": ("openai-", "x-stainless-"), "anthropic": ("anthropic-", "x-stainless-"),
                    "gemini": ("x-goog-",), "bedrock": ("x-amz-",)}
_FORMAT_FAMILY = {"openai_responses": "openai", "openai_chat": "openai", "anthropic_messages": "anthropic",
                  "gemini": "gemini", "bedrock_converse": "bedrock"}


class _FrameReader(Protocol):
    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]: ...

    def close(self) -> list[tuple[str | None, bytes]]: ...


def translatable(inbound: str, provider: Provider, model: str) -> bool:
    return inbound in ("responses", "chat", "messages") and target_api(inbound, _apis(provider, model)) is not None


def _apis(provider: Provider, model: str) -> frozenset[str]:
    """The provider's native APIs for this model (Bedrock's InvokeModel takes Claude models only)."""
    apis_for = getattr(provider, "apis_for", None)
    return frozenset(apis_for(model)) if apis_for is not None else provider.apis


@dataclass(frozen=True, slots=True)
class _Call:
    """Where a translated request goes: the provider, the API it is sent as, and how."""

    provider: Provider
    target: str
    model: str
    forward: list[tuple[str, str]]
    auth: list[tuple[str, str]]


class Translator:
    def __init__(self, ctx: GatewayContext) -> None:
        self._ctx = ctx

    @staticmethod
    def translatable(inbound: str, provider: Provider, model: str) -> bool:
        return translatable(inbound, provider, model)

    async def run(self, send: Send, rec: LogRecord, body: bytes, inbound: str, provider: Provider, model: str,
                  forward: list[tuple[str, str]], auth: list[tuple[str, str]], extra_headers: list[tuple[bytes, bytes]],
                  t0: float) -> None:
        target = target_api(inbound, _apis(provider, model))
        if target is None:
            raise UnsupportedRoute(f"The model `{rec.model_requested}` is served by provider `{provider.name}`, "
                                   f"which cannot take {inbound} requests.", param="model")
        client_fmt, prov_fmt = client_format(inbound), provider_format(target)
        req = expand_compactions(client_fmt.decode_request(_json_object(body)))
        req.model = model
        rec.provider_api, rec.translated = target, True
        call = _Call(provider, target, model, forward, auth)
        if is_compaction_request(req):
            await self._compact(send, rec, req, call, extra_headers, t0)
            return
        fitted = fit_request(req, prov_fmt.name, strict=self._ctx.settings.translation.strict)
        rec.dropped_tools = list(fitted.dropped)
        out_headers = list(extra_headers)
        if fitted.dropped:
            out_headers.append((b"lockgate-dropped-tools", ",".join(fitted.dropped).encode()))
        try:
            async with self._post(call, fitted.request, rec) as resp:
                if req.stream:
                    await self._stream(resp, send, rec, req, fitted, inbound, target, out_headers, t0)
                    return
                rec.ttfb_ms = (time.perf_counter() - t0) * 1000
                answer = restore_response(await self._read(resp, call), fitted)
        except UpstreamStatus as exc:
            if not (req.stream and inbound == "responses" and exc.kind == "context_length"):
                raise
            # Codex reads a context overflow from the stream (response.failed with
            # context_length_exceeded) and then compacts; an HTTP 400 would end the turn.
            await self._failed_stream(send, rec, req, exc, out_headers)
            return
        if answer.usage is None:
            # Agents budget their context by usage (Codex compacts on it): never report none.
            answer.usage = _estimate(req, sum(_part_chars(p) for p in answer.content))
            out_headers.append((b"lockgate-usage", b"estimated"))
        await self._answer(send, rec, client_fmt.encode_response(answer, req), answer, out_headers)

    @contextlib.asynccontextmanager
    async def _post(self, call: _Call, req: ir.Request, rec: LogRecord) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send `req` in the provider's format; an error status is raised in the caller's terms."""
        prov_fmt = provider_format(call.target)
        payload = orjson.dumps(prov_fmt.encode_request(req))
        headers = _headers(call.forward, prov_fmt.name) + call.auth
        url = call.provider.request_url(call.target, call.model, req.stream)
        sign = getattr(call.provider, "sign", None)
        if sign is not None:
            headers = sign("POST", url, headers, payload)
        # encoded=True: the URL goes out exactly as built (and as signed: yarl would turn a
        # Bedrock model id's %3A back into ':' and break the SigV4 signature).
        async with self._ctx.session.post(URL(url, encoded=True), data=payload, headers=headers) as resp:
            rec.upstream_request_id = resp.headers.get("x-request-id") or resp.headers.get("request-id")
            if resp.status >= 400:
                err_body = await resp.read()
                rec.error = err_body[:2000].decode("utf-8", "replace")
                raise from_upstream(resp.status, err_body, call.provider.name, resp.headers.get("retry-after"))
            yield resp

    @staticmethod
    async def _read(resp: aiohttp.ClientResponse, call: _Call) -> ir.Response:
        raw = await resp.read()
        try:
            return provider_format(call.target).decode_response(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise UpstreamUnreachable(f"Provider `{call.provider.name}` sent an answer lockgate could not read: "
                                      f"{exc}", code="upstream_bad_response") from exc

    @staticmethod
    async def _answer(send: Send, rec: LogRecord, body: dict[str, Any], answer: ir.Response,
                      headers: list[tuple[bytes, bytes]]) -> None:
        out = orjson.dumps(body)
        rec.status, rec.content_type = 200, "application/json"
        rec.response_id = answer.id or None
        _usage(rec, answer.usage)
        rec.response_bytes, rec.response_body = len(out), [out]
        await send_bytes(send, 200, out, [*_JSON, *headers])

    async def _failed_stream(self, send: Send, rec: LogRecord, req: ir.Request, exc: UpstreamStatus,
                             headers: list[tuple[bytes, bytes]]) -> None:
        encoder = client_format("responses").stream_encoder(req)
        error = ir.StreamError(exc.message, str(exc.code), exc.status)
        out = encoder.feed(ir.StreamStart(f"resp_{uuid.uuid4().hex}", req.model, int(time.time()))) + \
            encoder.finish(error)
        rec.status, rec.error_type, rec.error, rec.content_type = exc.status, exc.code, exc.message, "text/event-stream"
        rec.response_bytes, rec.response_body = len(out), [out]
        await send({"type": "http.response.start", "status": 200, "headers": [*_SSE, *headers]})
        await send({"type": "http.response.body", "body": out, "more_body": False})

    async def _compact(self, send: Send, rec: LogRecord, req: ir.Request, call: _Call,
                       extra_headers: list[tuple[bytes, bytes]], t0: float) -> None:
        """Codex's compaction_trigger on a provider that has no compaction: ask the model for a
        handoff summary and answer with exactly one `compaction` item that holds it."""
        ask = summary_request(req)
        fitted = fit_request(ask, provider_format(call.target).name)
        async with self._post(call, fitted.request, rec) as resp:
            rec.ttfb_ms = (time.perf_counter() - t0) * 1000
            summary = await self._read(resp, call)
        text = summary_text(summary)
        if not text:
            raise UpstreamUnreachable(f"Provider `{call.provider.name}` answered the compaction request without a "
                                      "summary.", code="upstream_bad_response")
        usage = summary.usage or _estimate(ask, len(text))
        answer = ir.Response(id=summary.id or f"resp_{uuid.uuid4().hex}", model=req.model, usage=usage,
                             content=[ir.Opaque(raw=compaction_item(text), source="openai_responses")],
                             created=int(time.time()), source="openai_responses")
        client_fmt = client_format("responses")
        if not req.stream:
            await self._answer(send, rec, client_fmt.encode_response(answer, req), answer, list(extra_headers))
            return
        encoder = client_fmt.stream_encoder(req, provider="openai_responses")
        events: list[ir.StreamEvent] = [ir.StreamStart(answer.id, answer.model, answer.created),
                                        ir.StreamPartEnd(0, answer.content[0]),
                                        ir.StreamFinish("stop", usage)]
        out = b"".join(encoder.feed(e) for e in events) + encoder.finish()
        rec.status, rec.content_type, rec.response_id = 200, "text/event-stream", answer.id
        _usage(rec, usage)
        rec.response_bytes, rec.response_body = len(out), [out]
        await send({"type": "http.response.start", "status": 200, "headers": [*_SSE, *extra_headers]})
        await send({"type": "http.response.body", "body": out, "more_body": False})

    async def count_tokens(self, send: Send, rec: LogRecord, body: bytes,
                           extra_headers: list[tuple[bytes, bytes]]) -> None:
        """POST /v1/messages/count_tokens for a provider without that endpoint: an estimate,
        marked as one in the `lockgate-token-count` header."""
        data = _json_object(body)
        data.setdefault("max_tokens", 1)  # count_tokens takes no max_tokens; the decoder may want one
        req = client_format("messages").decode_request(data)
        out = orjson.dumps({"input_tokens": estimate_input_tokens(req)})
        rec.status, rec.translated, rec.content_type = 200, True, "application/json"
        rec.response_bytes, rec.response_body = len(out), [out]
        await send_bytes(send, 200, out, [*_JSON, *extra_headers, (b"lockgate-token-count", b"estimated")])

    async def _stream(self, resp: aiohttp.ClientResponse, send: Send, rec: LogRecord, req: ir.Request,
                      fitted: Fitted, inbound: str, target: str, headers: list[tuple[bytes, bytes]], t0: float) -> None:
        prov_fmt = provider_format(target)
        make_reader: Callable[[], _FrameReader] = getattr(prov_fmt, "stream_reader", SseReader)
        reader, decoder = make_reader(), prov_fmt.stream_decoder()
        encoder = client_format(inbound).stream_encoder(req, provider=prov_fmt.name)
        restore = StreamRestorer(fitted)
        log = _BodyLog(self._ctx.settings.log.max_body_bytes)
        rec.status, rec.content_type = 200, "text/event-stream"
        await send({"type": "http.response.start", "status": 200, "headers": [*_SSE, *headers]})
        state = _StreamState(rec, req, t0)
        error: ir.StreamError | None = None
        try:
            async for chunk in resp.content.iter_any():
                if rec.ttfb_ms is None:
                    rec.ttfb_ms = (time.perf_counter() - t0) * 1000
                events: list[ir.StreamEvent] = []
                for name, data in reader.feed(chunk):
                    events += decoder.feed(name, data)
                error = await _forward(restore(events), encoder, state, send, log)
                if error is not None:
                    break
            if error is None:
                tail_events: list[ir.StreamEvent] = []
                for name, data in reader.close():
                    tail_events += decoder.feed(name, data)
                tail_events += decoder.close()
                error = await _forward(restore(tail_events), encoder, state, send, log)
        except TimeoutError:
            error = ir.StreamError(str(UpstreamTimeout(f"Provider `{rec.provider}` sent nothing for too long.")),
                                   "upstream_timeout", 504)
        except aiohttp.ClientError as exc:
            error = ir.StreamError(f"Provider `{rec.provider}` broke off the stream: {exc}",
                                   "upstream_incomplete_stream")
        if error is None and not state.finished:
            error = ir.StreamError("the provider closed the stream before its final event",
                                   "upstream_incomplete_stream")
        if error is not None:
            rec.status, rec.error_type, rec.error = error.status, error.code, error.message
        tail = encoder.finish(error)
        log.add(tail)
        rec.response_bytes, rec.response_body, rec.response_truncated = log.size, log.parts, log.truncated
        await send({"type": "http.response.body", "body": tail, "more_body": False})


class _Counter:
    """A rough token count (about 4 characters per token) for providers that cannot count."""

    def __init__(self) -> None:
        self.chars = 0

    def add(self, value: object) -> None:
        if isinstance(value, str):
            self.chars += len(value)
        elif value is not None:
            self.chars += len(orjson.dumps(value, default=repr))


def estimate_input_tokens(req: ir.Request) -> int:
    c = _Counter()
    for t in req.system:
        c.add(t.text)
    for m in req.messages:
        for part in m.parts:
            if isinstance(part, ir.Text | ir.Refusal):
                c.add(part.text)
            elif isinstance(part, ir.ToolCall):
                c.add(part.name)
                c.add(part.arguments)
            elif isinstance(part, ir.ToolResult):
                c.add(part.content if isinstance(part.content, str) else
                      " ".join(p.text for p in part.content if isinstance(p, ir.Text)))
            elif isinstance(part, ir.Reasoning):
                c.add(part.text)
            elif isinstance(part, ir.Image | ir.File):
                c.chars += 4 * 1000  # images and documents: a flat guess, as their size says little
    for tool in req.tools:
        c.add(tool.name)
        c.add(tool.description)
        c.add(tool.parameters)
    return max(1, (c.chars + 3) // 4)


def _part_chars(part: ir.Part) -> int:
    if isinstance(part, ir.Text | ir.Refusal):
        return len(part.text)
    if isinstance(part, ir.ToolCall):
        return len(part.name) + len(part.arguments)
    if isinstance(part, ir.Reasoning):
        return len(part.text) + sum(len(s) for s in part.summary)
    return 0


def _estimate(req: ir.Request, output_chars: int) -> ir.Usage:
    inputs = estimate_input_tokens(req)
    outputs = (output_chars + 3) // 4
    return ir.Usage(input_tokens=inputs, output_tokens=outputs, estimated=True)


class _StreamState:
    __slots__ = ("finished", "output_chars", "rec", "req", "start_usage", "t0")

    def __init__(self, rec: LogRecord, req: ir.Request, t0: float) -> None:
        self.rec, self.req, self.t0, self.finished = rec, req, t0, False
        self.output_chars = 0
        self.start_usage: ir.Usage | None = None


async def _forward(events: list[ir.StreamEvent], encoder: Any, state: _StreamState, send: Send,
                   log: _BodyLog) -> ir.StreamError | None:
    """Encode and send a batch of IR events; returns the stream error among them, if any."""
    out: list[bytes] = []
    rec = state.rec
    for ev in events:
        if isinstance(ev, ir.StreamError):
            if out:
                data = b"".join(out)
                log.add(data)
                await send({"type": "http.response.body", "body": data, "more_body": True})
            return ev
        if isinstance(ev, ir.StreamPartDelta):
            state.output_chars += len(ev.text)
            if rec.ttft_ms is None and ev.text:
                rec.ttft_ms = (time.perf_counter() - state.t0) * 1000
        elif isinstance(ev, ir.StreamStart):
            rec.response_id = ev.id or None
            state.start_usage = ev.usage
            _usage(rec, ev.usage)
        elif isinstance(ev, ir.StreamFinish):
            state.finished = True
            if ev.usage is None:
                # No usage from the provider: estimate it (and say so), never report none or zero.
                ev.usage = state.start_usage or _estimate(state.req, state.output_chars)
            _usage(rec, ev.usage)
        out.append(encoder.feed(ev))
    data = b"".join(out)
    if data:
        log.add(data)
        await send({"type": "http.response.body", "body": data, "more_body": True})
    return None


class _BodyLog:
    """What the client was sent, up to the log's body cap."""

    __slots__ = ("cap", "parts", "size", "truncated")

    def __init__(self, cap: int) -> None:
        self.cap, self.size, self.truncated = cap, 0, False
        self.parts: list[bytes] = []

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size <= self.cap:
            self.parts.append(data)
        else:
            self.truncated = True


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data


def _usage(rec: LogRecord, usage: ir.Usage | None) -> None:
    if usage is None:
        return
    rec.input_tokens, rec.output_tokens = usage.input_tokens, usage.output_tokens
    rec.cached_input_tokens, rec.cache_write_tokens = usage.cached_input_tokens, usage.cache_write_tokens
    rec.cache_write_1h_tokens, rec.reasoning_tokens = usage.cache_write_1h_tokens, usage.reasoning_tokens
    rec.total_tokens = usage.input_tokens + usage.output_tokens
    rec.usage_estimated = usage.estimated


def _headers(forward: list[tuple[str, str]], target_format: str) -> list[tuple[str, str]]:
    """Client headers for the provider: not another API family's, and no content type (ours is JSON)."""
    family = _FORMAT_FAMILY.get(target_format, "")
    own = _FAMILY_PREFIXES.get(family, ())
    foreign = tuple(p for fam, prefixes in _FAMILY_PREFIXES.items() if fam != family for p in prefixes
                    if p not in own)
    out = [(k, v) for k, v in forward if not k.lower().startswith(foreign) and k.lower() != "content-type"]
    out.append(("content-type", "application/json"))
    return out
