"""`GET /api/requests` (filtered, cursor-paginated) and `GET /api/requests/{id}` (one, with bodies)."""

from __future__ import annotations

import functools
from typing import Any, Literal

import msgspec

from lockgate.api.router import ApiRequest, Param, Route
from lockgate.errors import InvalidRequest, NotFound
from lockgate.store.filters import Cursor, FilterError, RequestFilter, build_request_filter, decode_cursor
from lockgate.store.query import MAX_LIMIT, SCAN_LIMIT, list_requests, request_detail

__all__ = ["RequestDetail", "RequestList", "RequestRow", "routes"]


class RequestRow(msgspec.Struct, kw_only=True):
    """One logged request. Times: `ts` epoch seconds (start); durations in milliseconds."""

    id: str
    ts: float
    method: str
    path: str
    api: str
    key_id: str | None
    key_name: str | None
    key_source: str  # whose provider key was used: gateway (config) or client (Helicone-Auth)
    stream: bool
    model_requested: str | None
    model_resolved: str | None
    provider: str | None
    status: int
    error_type: str | None
    error: str | None
    latency_ms: float | None
    ttfb_ms: float | None
    ttft_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int | None
    cache_write_tokens: int | None
    cache_write_1h_tokens: int | None
    reasoning_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    cost_status: str | None
    priced_model: str | None
    response_id: str | None
    upstream_request_id: str | None
    session_id: str | None
    session_path: str | None
    session_name: str | None
    user_id: str | None
    properties: dict[str, str]
    user_agent: str | None
    client_ip: str | None
    request_bytes: int
    response_bytes: int
    has_bodies: bool
    source: str
    provider_api: str | None  # the API the provider was sent; differs from `api` when translated
    translated: bool  # decoded and re-encoded for the provider, not passed through
    dropped_tools: list[str]  # built-in tools left out because the provider cannot run them
    usage_estimated: bool  # the provider sent no usage: the tokens (and cost) are lockgate's estimate


class RequestList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[RequestRow]
    has_more: bool
    next_cursor: str | None  # pass as `cursor` for the next (older) page
    scanned: int | None = None  # with `q`: rows whose bodies this page searched


class Feedback(msgspec.Struct):
    rating: bool
    created_at: float
    updated_at: float


class RequestDetail(RequestRow, kw_only=True):
    request_body: str | None
    response_body: str | None
    body_encoding: Literal["utf-8", "base64"]
    request_truncated: bool | None
    response_truncated: bool | None
    content_type: str | None
    annotations: dict[str, str]  # the Helicone-*/lockgate-* headers as sent (credentials never stored)
    feedback: Feedback | None
    scores: dict[str, float]


_ROW_FIELDS = RequestRow.__struct_fields__


def _row_values(row: dict[str, Any]) -> dict[str, Any]:
    out = {name: row.get(name) for name in _ROW_FIELDS}
    out["properties"] = out["properties"] or {}
    out["key_source"] = out["key_source"] or "gateway"
    out["translated"] = bool(out["translated"])
    out["dropped_tools"] = out["dropped_tools"] or []
    out["usage_estimated"] = bool(out["usage_estimated"])
    return out


def to_row(row: dict[str, Any]) -> RequestRow:
    return RequestRow(**_row_values(row))


_FILTER_PARAMS = (
    Param("from", description="Only requests started at or after: epoch seconds, ISO 8601 (UTC unless an "
                              "offset is given) or an age such as 15m, 2h, 7d."),
    Param("to", description="Only requests started before (same formats as `from`)."),
    Param("model", repeated=True, description="Model sent upstream (after aliases); repeat for any of several."),
    Param("model_requested", repeated=True, description="Model as the client asked for it."),
    Param("provider", repeated=True, description="Provider name from the config."),
    Param("key", repeated=True, description="Gateway key id or name."),
    Param("user", repeated=True, description="Helicone-User-Id."),
    Param("session", repeated=True, description="Helicone-Session-Id."),
    Param("property", repeated=True, description="`name:value` (exact) or `name` (set at all), where name is "
                                                 "the part after Helicone-Property-; repeat to require several."),
    Param("status", description="A status code (429), a class (4xx, 5xx), `error` (≥ 400) or `ok` (< 400); "
                                "comma-separate for any of several."),
    Param("min_latency_ms", float, "Only requests that took at least this long."),
    Param("min_cost", float, "Only requests that cost at least this many US dollars."),
    Param("q", description="Text searched in the request and response bodies (case-insensitive for ASCII); "
                           "see `scanned`."),
)


def filter_from_query(query: dict[str, Any]) -> RequestFilter:
    try:
        return build_request_filter(
            since=query.get("from"), until=query.get("to"), models=query.get("model", ()),
            models_requested=query.get("model_requested", ()), providers=query.get("provider", ()),
            keys=query.get("key", ()), users=query.get("user", ()), sessions=query.get("session", ()),
            properties=query.get("property", ()), status=query.get("status"),
            min_latency_ms=query.get("min_latency_ms"), min_cost_usd=query.get("min_cost"), text=query.get("q"))
    except FilterError as exc:
        raise InvalidRequest(str(exc), param=exc.param, code="invalid_parameter") from None


def page_params(query: dict[str, Any], default: int = 50) -> tuple[int, Cursor | None]:
    """`limit` (1..1000) and `cursor` from the query."""
    limit = query.get("limit", default)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"`limit` must be between 1 and {MAX_LIMIT}, got {limit}.", param="limit",
                             code="invalid_parameter")
    try:
        cursor = decode_cursor(query["cursor"]) if "cursor" in query else None
    except FilterError as exc:
        raise InvalidRequest(str(exc), param="cursor", code="invalid_parameter") from None
    return limit, cursor


PAGE_PARAMS = (
    Param("limit", int, f"Page size, 1 to {MAX_LIMIT} (default 50)."),
    Param("cursor", description="`next_cursor` of the previous page."),
)


async def _list(req: ApiRequest) -> RequestList:
    flt = filter_from_query(req.query)
    limit, cursor = page_params(req.query)
    page = await req.db(functools.partial(list_requests, req.ctx.engine, flt, limit=limit, cursor=cursor))
    return RequestList(data=[to_row(r) for r in page.rows], has_more=page.next_cursor is not None,
                       next_cursor=page.next_cursor, scanned=page.scanned)


async def _one(req: ApiRequest) -> RequestDetail:
    row = await req.db(request_detail, req.ctx.engine, req.params["id"])
    if row is None:
        raise NotFound(f"No request with id `{req.params['id']}` is logged.", param="id", code="request_not_found")
    fb = row["feedback"]
    return RequestDetail(
        **_row_values(row), request_body=row["request_body"], response_body=row["response_body"],
        body_encoding=row["body_encoding"], request_truncated=row["request_truncated"],
        response_truncated=row["response_truncated"], content_type=row["content_type"],
        annotations=row["meta_headers"] or {}, feedback=Feedback(**fb) if fb is not None else None,
        scores=row["scores"])


def routes() -> list[Route]:
    return [
        Route("GET", "/api/requests", _list, "List logged requests, newest first", query=(*_FILTER_PARAMS,
              *PAGE_PARAMS), response=RequestList, tag="requests", description=(
              "Filters combine with AND; repeated values of one filter with OR. Pages follow `next_cursor` "
              f"until it is null. With `q`, one page reads at most {SCAN_LIMIT:,} rows' bodies: a short page with a "
              "`next_cursor` means the search stopped there and can go on.")),
        Route("GET", "/api/requests/{id}", _one, "One request with its bodies, annotations, feedback and scores",
              response=RequestDetail, tag="requests"),
    ]
