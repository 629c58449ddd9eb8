"""OpenTelemetry traces: one span per request, with the GenAI semantic conventions.

`Tracing.observe` is a `LogSink` observer: spans are built in the log writer thread from
committed records, with the request's real start time (`LogRecord.ts`) and duration
(`latency_ms`), and handed to a BatchSpanProcessor that exports them over OTLP/HTTP
(protobuf) from its own thread. OpenTelemetry is imported only when `Tracing` is made,
that is when `telemetry.otlp_endpoint` is set: start-up and memory stay as they are
otherwise.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from lockgate import __version__
from lockgate.config import ProviderSettings, TelemetrySettings
from lockgate.observe.record import LogRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

__all__ = ["Tracing", "provider_semconv_name", "traces_url"]

# gen_ai.operation.name: the Responses API is a chat operation too (openai.api.type tells them apart).
_OPERATIONS = {"chat": "chat", "responses": "chat", "embeddings": "embeddings"}
_OPENAI_API_TYPES = {"chat": "chat_completions", "responses": "responses", "embeddings": "embeddings"}
# Well-known gen_ai.provider.name values, by API host and by lockgate's preset names.
_HOSTS = {"api.openai.com": "openai", "api.anthropic.com": "anthropic",
          "generativelanguage.googleapis.com": "gcp.gemini", "api.groq.com": "groq",
          "api.deepseek.com": "deepseek", "api.mistral.ai": "mistral_ai", "api.x.ai": "x_ai",
          "api.perplexity.ai": "perplexity", "api.cohere.com": "cohere"}
_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini", "groq": "groq",
          "deepseek": "deepseek", "mistral": "mistral_ai", "xai": "x_ai", "perplexity": "perplexity",
          "cohere": "cohere"}
_MAX_ERROR_CHARS = 256
_YIELD_EVERY = 3  # spans between GIL hand-offs (a span costs the writer some 35 µs)


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: `/v1/traces` is added to a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT does."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def provider_semconv_name(name: str, settings: ProviderSettings | None) -> str:
    """gen_ai.provider.name for a configured provider: a well-known value when the host or
    name is one, else the configured name."""
    if settings is not None:
        host = urlsplit(settings.base_url).hostname or ""
        if host in _HOSTS:
            return _HOSTS[host]
        if host.endswith(".openai.azure.com"):
            return "azure.ai.openai"
    return _NAMES.get(name, name)


class _Inner(msgspec.Struct):
    id: Any = None
    model: Any = None


class _Outer(_Inner):
    response: _Inner | None = None
    message: _Inner | None = None


_DECODE = msgspec.json.Decoder(_Outer)


def _response_facts(rec: LogRecord) -> tuple[str | None, str | None]:
    """(response model, response id) from the kept response bytes; the last source wins."""
    model = rid = None
    for raw in rec.usage_source:
        text = _json_text(raw)
        if text is None:
            continue
        try:
            obj = _DECODE.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        inner = obj.response or obj.message or obj
        if isinstance(inner.model, str):
            model = inner.model
        if isinstance(inner.id, str):
            rid = inner.id
    return model, rid


def _json_text(raw: bytes) -> bytes | None:
    text = raw.strip()
    if text.startswith(b"{"):
        return text
    start = text.find(b"data:")
    if start < 0:
        return None
    end = text.find(b"\n", start)
    data = text[start + 5:end if end >= 0 else len(text)].strip()
    return data if data.startswith(b"{") else None


class Tracing:
    """Builds and exports one span per logged request (a LogSink observer)."""

    def __init__(self, settings: TelemetrySettings, providers: Mapping[str, ProviderSettings]) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._kind = SpanKind.CLIENT
        self._status_cls = Status
        self._propagator = TraceContextTextMapPropagator()
        self._error_code = StatusCode.ERROR
        self.endpoint = traces_url(settings.otlp_endpoint)
        self._ratio = settings.trace_sample_ratio
        resource = Resource.create({"service.name": settings.service_name, "service.version": __version__})
        # A private provider, not the global one: lockgate's spans are its own business.
        self._provider: TracerProvider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=self.endpoint, headers=dict(settings.otlp_headers),
                                    timeout=settings.otlp_timeout)
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer: Tracer = self._provider.get_tracer("lockgate", __version__)
        self._providers: dict[str, tuple[str, str | None, int | None]] = {}
        for name, ps in providers.items():
            url = urlsplit(ps.base_url)
            port = url.port or (443 if url.scheme == "https" else 80)
            self._providers[name] = (provider_semconv_name(name, ps), url.hostname, port)

    def observe(self, batch: Sequence[LogRecord]) -> None:
        ratio = self._ratio
        n = 0
        for rec in batch:
            # Sampled after the fact, so failed requests can always be kept.
            if ratio < 1.0 and rec.status < 400 and rec.status != 0 and random.random() >= ratio:
                continue
            self._span(rec)
            n += 1
            if n % _YIELD_EVERY == 0:
                time.sleep(0)  # hand the GIL to a waiting event loop (see sink._GilPacer)

    def close(self) -> None:
        """Export what is queued, then stop the exporter thread."""
        self._provider.shutdown()

    def _span(self, rec: LogRecord) -> None:
        attrs = self.attributes(rec)
        op = attrs["gen_ai.operation.name"]
        model = attrs.get("gen_ai.request.model")
        start = int(rec.ts * 1e9)
        end = start + int((rec.latency_ms or 0.0) * 1e6)
        # A caller's `traceparent` makes the span a child of the caller's own (agent) span.
        parent = self._propagator.extract({"traceparent": rec.traceparent}) if rec.traceparent else None
        span = self._tracer.start_span(f"{op} {model}" if model else str(op), context=parent, kind=self._kind,
                                       attributes=attrs, start_time=start)
        if rec.status >= 400 or rec.status == 0:
            span.set_status(self._status_cls(self._error_code, (rec.error or "")[:_MAX_ERROR_CHARS] or None))
        span.end(end_time=end)

    def attributes(self, rec: LogRecord) -> dict[str, str | int | float | bool]:
        """The span's attributes: gen_ai.* where the conventions define them, lockgate.* for the rest."""
        op = _OPERATIONS.get(rec.api, rec.api)
        a: dict[str, str | int | float | bool] = {"gen_ai.operation.name": op, "lockgate.request.id": rec.id,
                                                  "lockgate.api": rec.api, "lockgate.stream": rec.stream}
        if rec.provider:
            semconv, host, port = self._providers.get(rec.provider, (rec.provider, None, None))
            a["gen_ai.provider.name"] = semconv
            a["gen_ai.system"] = semconv  # the name before semantic conventions 1.37
            a["lockgate.provider"] = rec.provider
            if host:
                a["server.address"] = host
            if port:
                a["server.port"] = port
        if rec.api in _OPENAI_API_TYPES:
            a["openai.api.type"] = _OPENAI_API_TYPES[rec.api]
        model = rec.model_resolved or rec.model_requested
        if model:
            a["gen_ai.request.model"] = model
        if rec.model_requested and rec.model_requested != model:
            a["lockgate.model.requested"] = rec.model_requested
        resp_model, resp_id = _response_facts(rec)
        if resp_model:
            a["gen_ai.response.model"] = resp_model
        if rec.response_id or resp_id:
            a["gen_ai.response.id"] = rec.response_id or resp_id or ""
        for attr, value in (("gen_ai.usage.input_tokens", rec.input_tokens),
                            ("gen_ai.usage.output_tokens", rec.output_tokens),
                            ("gen_ai.usage.cache_read.input_tokens", rec.cached_input_tokens),
                            ("gen_ai.usage.cache_creation.input_tokens", rec.cache_write_tokens),
                            ("gen_ai.usage.reasoning.output_tokens", rec.reasoning_tokens)):
            if value is not None:
                a[attr] = value
        a["http.request.method"] = rec.method
        if rec.status:
            a["http.response.status_code"] = rec.status
        if rec.status >= 400 or rec.status == 0:
            a["error.type"] = rec.error_type or (str(rec.status) if rec.status else "unknown")
        if rec.ttft_ms is not None:
            a["lockgate.time_to_first_token_ms"] = round(rec.ttft_ms, 3)
        if rec.cost_usd is not None:
            a["lockgate.cost_usd"] = rec.cost_usd
        meta = rec.meta
        for attr, text in (("lockgate.session.id", meta.session_id), ("lockgate.session.path", meta.session_path),
                           ("lockgate.session.name", meta.session_name), ("lockgate.user.id", meta.user_id),
                           ("lockgate.key.name", rec.key_name)):
            if text:
                a[attr] = text
        if meta.session_id:
            a["gen_ai.conversation.id"] = meta.session_id
        for name, prop in meta.properties.items():
            a[f"lockgate.property.{name}"] = prop
        return a
