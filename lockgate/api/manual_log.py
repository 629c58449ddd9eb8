"""Logging without proxying: Helicone's manual-logger body and a simpler native one.

`POST /custom/v1/log` (and Helicone's provider variants `/oai/v1/log`, `/anthropic/v1/log`)
take the body Helicone's own manual-logger clients send; `POST /api/log` takes lockgate's
flat shape. Either becomes a LogRecord on the same sink as proxied requests, so it is
parsed for usage, priced and grouped the same way.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import msgspec
import orjson

from lockgate.api.router import ApiRequest, Route
from lockgate.errors import InvalidRequest
from lockgate.observe.record import LogRecord, RequestMeta
from lockgate.server.headers import OWN_PREFIXES, client_request_id, read_meta
from lockgate.server.ids import new_request_id

__all__ = ["routes"]

# Hosts and paths of the well-known APIs, to label manual records like proxied ones.
_HOSTS = {"api.openai.com": "openai", "api.anthropic.com": "anthropic",
          "generativelanguage.googleapis.com": "gemini", "openai.azure.com": "azure"}
_API_PATHS = (("/chat/completions", "chat"), ("/responses", "responses"), ("/messages", "messages"),
              ("/embeddings", "embeddings"), (":generateContent", "generate_content"),
              (":streamGenerateContent", "generate_content"))


class HeliconeTime(msgspec.Struct):
    seconds: float
    milliseconds: float = 0


class HeliconeTiming(msgspec.Struct):
    startTime: HeliconeTime  # Helicone's field names, camelCase on the wire
    endTime: HeliconeTime
    timeToFirstToken: float | None = None


class HeliconeProviderRequest(msgspec.Struct):
    json: Any = None
    url: str = "custom-model-nopath"
    meta: dict[str, str | None] = {}


class HeliconeProviderResponse(msgspec.Struct):
    json: Any = None
    textBody: str | None = None
    status: int = 200
    headers: dict[str, Any] = {}


class HeliconeLog(msgspec.Struct):
    """The body of Helicone's `POST /custom/v1/log`."""

    providerRequest: HeliconeProviderRequest
    providerResponse: HeliconeProviderResponse
    timing: HeliconeTiming | None = None


class Usage(msgspec.Struct):
    input_tokens: int | None = None  # all input, cached and cache-write included (OpenAI's meaning)
    output_tokens: int | None = None  # reasoning included
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None


class NativeLog(msgspec.Struct, forbid_unknown_fields=True):
    """lockgate's own manual-log body (`POST /api/log`)."""

    model: str | None = None
    provider: str | None = None
    api: str = "custom"
    request: Any = None  # the request body as sent (JSON value or text)
    response: Any = None  # the response body (JSON value or text)
    status: int = 200
    start_time: float | None = None  # epoch seconds; default: now - latency
    end_time: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    usage: Usage | None = None  # default: parsed from `response` like a proxied body
    id: str | None = None  # a UUID of the caller's choosing; default: lockgate makes one
    session_id: str | None = None
    session_path: str | None = None
    session_name: str | None = None
    user_id: str | None = None
    properties: dict[str, str] = {}
    error: str | None = None


class Logged(msgspec.Struct):
    id: str


def _header_meta(req: ApiRequest, extra: dict[str, str | None] | None = None) -> RequestMeta:
    own = [(k, v) for k, v in req.headers.items() if k.startswith(OWN_PREFIXES)]
    own += [(k.lower().encode("latin-1"), str(v).encode()) for k, v in (extra or {}).items()
            if v is not None and k.lower().startswith(("helicone-", "lockgate-"))]
    return read_meta(own)


def _body_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


def _label(url: str, variant: str | None) -> tuple[str, str, str]:
    """(provider, api, path) of the logged call's URL."""
    parts = urlsplit(url if "://" in url else f"custom://{url}")
    host = parts.hostname or ""
    provider = variant or next((p for h, p in _HOSTS.items() if host == h or host.endswith("." + h)), "custom")
    path = parts.path or url
    api = next((name for suffix, name in _API_PATHS if path.endswith(suffix)), "custom")
    return provider, api, path if "://" in url else url


def _api_from_body(body: dict[str, Any], variant: str | None) -> str:
    """The API a request body is shaped for, when its URL does not say (`custom-model-nopath`)."""
    if "messages" in body:
        return "messages" if variant == "anthropic" else "chat"
    if "input" in body and variant == "openai":
        return "embeddings" if str(body.get("model", "")).startswith("text-embedding") else "responses"
    return "custom"


async def helicone_log(req: ApiRequest) -> Logged:
    body: HeliconeLog = req.body
    variant = {"/oai/v1/log": "openai", "/anthropic/v1/log": "anthropic"}.get(req.path)
    pr, resp = body.providerRequest, body.providerResponse
    meta = _header_meta(req, pr.meta)
    provider, api, path = _label(pr.url, variant)
    now = time.time()
    start, end = now, now
    if body.timing is not None:
        start = body.timing.startTime.seconds + body.timing.startTime.milliseconds / 1000
        end = body.timing.endTime.seconds + body.timing.endTime.milliseconds / 1000
    request_json = pr.json if isinstance(pr.json, dict) else {}
    kind = request_json.get("_type")
    if isinstance(kind, str) and kind:
        api = kind  # Helicone's non-LLM steps: tool, vector_db, data
    elif api == "custom":
        api = _api_from_body(request_json, variant)
    response = _body_bytes(resp.json if resp.json not in (None, {}) or resp.textBody is None else resp.textBody)
    model = request_json.get("model")
    resp_model = resp.json.get("model") if isinstance(resp.json, dict) else None
    rec = _record(req, meta, api=api, path=path, provider=provider, start=start, end=end,
                  ttft_ms=body.timing.timeToFirstToken if body.timing else None, status=resp.status,
                  request=_body_bytes(pr.json), response=response,
                  model=model if isinstance(model, str) else None,
                  model_resolved=resp_model if isinstance(resp_model, str) else None)
    if isinstance(resp.json, dict) and resp.status < 400:
        rec.usage_source = [orjson.dumps(resp.json)]
    req.ctx.submit_log(rec)
    return Logged(rec.id)


async def native_log(req: ApiRequest) -> Logged:
    body: NativeLog = req.body
    meta = _header_meta(req)
    for name in ("session_id", "session_path", "session_name", "user_id"):
        if getattr(body, name) is not None:
            setattr(meta, name, getattr(body, name))
    meta.properties.update(body.properties)
    if body.id is not None:
        meta.request_id = body.id
        if client_request_id(meta) is None:
            raise InvalidRequest("`id` must be a UUID.", param="id", code="invalid_body")
    end = body.end_time if body.end_time is not None else time.time()
    start = body.start_time if body.start_time is not None else end - (body.latency_ms or 0) / 1000
    if end < start:
        raise InvalidRequest("`end_time` is before `start_time`.", param="end_time", code="invalid_body")
    response = _body_bytes(body.response)
    rec = _record(req, meta, api=body.api, path="/api/log", provider=body.provider or "custom", start=start,
                  end=end, ttft_ms=body.ttft_ms, status=body.status, request=_body_bytes(body.request),
                  response=response, model=body.model, model_resolved=body.model)
    if body.latency_ms is not None:
        rec.latency_ms = body.latency_ms
    if body.error is not None:
        rec.error_type, rec.error = rec.error_type or "client_reported", body.error
    if body.usage is not None:
        for name in body.usage.__struct_fields__:
            setattr(rec, name, getattr(body.usage, name))
    elif isinstance(body.response, dict) and body.status < 400 and response is not None:
        rec.usage_source = [response]
    req.ctx.submit_log(rec)
    return Logged(rec.id)


def _record(req: ApiRequest, meta: RequestMeta, *, api: str, path: str, provider: str, start: float, end: float,
            ttft_ms: float | None, status: int, request: bytes | None, response: bytes | None, model: str | None,
            model_resolved: str | None) -> LogRecord:
    if not 100 <= status <= 599:
        raise InvalidRequest(f"`status` must be an HTTP status code, got {status}.", param="status",
                             code="invalid_body")
    rec = LogRecord(id=client_request_id(meta) or new_request_id(), ts=start, method="POST", path=path, api=api,
                    provider=provider, model_requested=model, model_resolved=model_resolved or model,
                    status=status, latency_ms=max(0.0, (end - start) * 1000), ttft_ms=ttft_ms, meta=meta,
                    request_body=request, response_body=[response] if response else [],
                    request_bytes=len(request or b""), response_bytes=len(response or b""), source="manual",
                    content_type="application/json")
    if req.key is not None:
        rec.key_id, rec.key_name = req.key.id, req.key.name
    if status >= 400:
        rec.error_type = "upstream_status"
        rec.error = (response or b"")[:2000].decode("utf-8", "replace") or None
    return rec


def routes() -> list[Route]:
    helicone_doc = ("Helicone's manual-logger body: `providerRequest` {url, json, meta}, `providerResponse` "
                    "{json | textBody, status, headers}, `timing` {startTime, endTime: {seconds, milliseconds}, "
                    "timeToFirstToken}. Helicone-* headers (on the request or in `meta`) annotate the record.")
    out = [Route("POST", path, helicone_log, f"Log a call made without the gateway ({name})", body=HeliconeLog,
                 response=Logged, tag="logging", description=helicone_doc)
           for path, name in (("/custom/v1/log", "Helicone's body"), ("/oai/v1/log", "Helicone's body, OpenAI"),
                              ("/anthropic/v1/log", "Helicone's body, Anthropic"))]
    out.append(Route("POST", "/api/log", native_log, "Log a call made without the gateway (lockgate's body)",
                     body=NativeLog, response=Logged, tag="logging",
                     description="Usage is parsed from `response` like a proxied body unless `usage` is given."))
    return out
