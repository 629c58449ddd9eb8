"""The log record: everything the request path knows about one request.

The request path fills a `LogRecord` with cheap facts (ids, timings, status, byte
references) and hands it to the log sink without waiting. Anything that costs CPU —
parsing usage out of the final SSE event, capping and compressing bodies — happens in
the writer thread (`observe/usage.py`, `store/requests.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LogRecord", "RequestMeta"]


@dataclass(slots=True)
class RequestMeta:
    """Annotations a client sends as `Helicone-*` / `lockgate-*` request headers."""

    session_id: str | None = None
    session_path: str | None = None
    session_name: str | None = None
    user_id: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None  # client-chosen id (Helicone-Request-Id); used if it is a UUID
    omit_request: bool = False  # Helicone-Omit-Request: do not store the request body
    omit_response: bool = False  # Helicone-Omit-Response: do not store the response body
    model_override: str | None = None  # Helicone-Model-Override: the model to price the request as
    # Every Helicone-*/lockgate-* header as sent (lower-case names), for later features.
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class LogRecord:
    """One request as the gateway saw it. Times are epoch seconds / milliseconds."""

    id: str
    ts: float
    method: str
    path: str
    api: str  # responses | chat | embeddings | models | responses.get | ... | other
    key_id: str | None = None
    key_name: str | None = None
    stream: bool = False
    model_requested: str | None = None
    model_resolved: str | None = None
    provider: str | None = None
    status: int = 0
    error_type: str | None = None  # bounded label: upstream_error, client_disconnected, ...
    error: str | None = None
    latency_ms: float | None = None
    ttfb_ms: float | None = None
    ttft_ms: float | None = None
    # Usage, filled by the writer from `usage_source` unless already known.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    cache_write_1h_tokens: int | None = None  # the part of cache_write_tokens with a 1 h TTL
    cost_usd: float | None = None  # filled by the writer's pricing step; None = unknown
    priced_model: str | None = None  # Helicone-Model-Override, else what the pricing step chose
    cost_status: str | None = None
    # Raw material the writer parses off the request path: the non-stream response
    # body, or the SSE events that carry usage (terminal Responses event, chat usage chunk).
    usage_source: list[bytes] = field(default_factory=list)
    response_id: str | None = None  # upstream id (resp_...), for sub-resource routing
    upstream_request_id: str | None = None
    meta: RequestMeta = field(default_factory=RequestMeta)
    user_agent: str | None = None
    client_ip: str | None = None
    request_body: bytes | None = None  # full bytes; the writer caps them
    response_body: list[bytes] = field(default_factory=list)  # chunks, already capped by the tap
    response_truncated: bool = False
    request_bytes: int = 0
    response_bytes: int = 0
    content_type: str | None = None
    source: str = "proxy"  # proxy | manual (POST /custom/v1/log, /api/log)
    key_source: str = "gateway"  # whose provider key was used: gateway (config) | client (Helicone-Auth BYOK)
    provider_api: str | None = None  # the API the provider was sent (differs from `api` when translated)
    translated: bool = False  # decoded and re-encoded (formats/), not passed through
    dropped_tools: list[str] = field(default_factory=list)  # built-in tools left out for the provider
    usage_estimated: bool = False  # the provider sent no usage; the tokens are lockgate's estimate
    traceparent: str | None = None  # W3C trace context sent by the caller: the parent of the request's span

    def approx_size(self) -> int:
        """Bytes this record holds on to, for the queue's byte bound."""
        return 512 + len(self.request_body or b"") + sum(len(c) for c in self.response_body) + sum(
            len(c) for c in self.usage_source
        )
