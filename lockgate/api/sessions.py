"""`GET /api/sessions`, `GET /api/sessions/{id}` (the session as a tree by path) and `GET /api/users`."""

from __future__ import annotations

import functools
from typing import Any, Literal

import msgspec

from lockgate.api.requests import PAGE_PARAMS, page_params
from lockgate.api.router import ApiRequest, Param, Route
from lockgate.errors import InvalidRequest, NotFound
from lockgate.store.filters import FilterError, parse_time
from lockgate.store.query_groups import SessionFilter, UserFilter, list_sessions, list_users, session_tree

__all__ = ["SessionDetail", "SessionList", "SessionNode", "Totals", "UserList", "routes"]


class Totals(msgspec.Struct, kw_only=True):
    """Sums over a set of requests. `latency_ms` adds up request latencies; `duration_ms` is
    wall-clock time from the first request's start to the last one's end."""

    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cost_usd: float | None  # null when no request in the set has a known cost
    unpriced_requests: int  # requests without a known cost
    latency_ms: float
    duration_ms: float
    first_ts: float | None
    last_ts: float | None


class SessionSummary(Totals, kw_only=True):
    id: str
    name: str | None
    user_id: str | None


class SessionList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[SessionSummary]
    has_more: bool
    next_cursor: str | None


class SessionRequest(msgspec.Struct, kw_only=True):
    id: str
    ts: float
    session_path: str | None
    api: str
    model_requested: str | None
    model_resolved: str | None
    provider: str | None
    status: int
    error_type: str | None
    latency_ms: float | None
    ttft_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None


class SessionNode(msgspec.Struct, kw_only=True):
    """One path segment. `own` counts the requests on this node, `total` its whole subtree."""

    name: str
    path: str
    own: Totals
    total: Totals
    requests: list[SessionRequest]
    children: list[SessionNode]


class SessionDetail(msgspec.Struct, kw_only=True):
    id: str
    name: str | None
    user_ids: list[str]
    truncated: bool  # the session has more requests than the tree holds (10,000)
    root: SessionNode


class UserSummary(Totals, kw_only=True):
    id: str


class UserList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[UserSummary]
    has_more: bool
    next_cursor: str | None


def _times(query: dict[str, Any]) -> tuple[float | None, float | None]:
    try:
        since = parse_time(query["from"], "from") if "from" in query else None
        until = parse_time(query["to"], "to") if "to" in query else None
    except FilterError as exc:
        raise InvalidRequest(str(exc), param=exc.param, code="invalid_parameter") from None
    return since, until


_TIME_PARAMS = (
    Param("from", description="Epoch seconds, ISO 8601 or an age such as 2h, 7d."),
    Param("to", description="Same formats as `from`."),
)


async def _sessions(req: ApiRequest) -> SessionList:
    since, until = _times(req.query)
    limit, cursor = page_params(req.query)
    flt = SessionFilter(since=since, until=until, users=tuple(req.query.get("user", ())),
                        names=tuple(req.query.get("name", ())))
    page = await req.db(functools.partial(list_sessions, req.ctx.engine, flt, limit=limit, cursor=cursor))
    return SessionList(data=msgspec.convert(page.rows, list[SessionSummary]), has_more=page.next_cursor is not None,
                       next_cursor=page.next_cursor)


async def _session(req: ApiRequest) -> SessionDetail:
    tree = await req.db(session_tree, req.ctx.engine, req.params["id"])
    if tree is None:
        raise NotFound(f"No requests are logged for session `{req.params['id']}`.", param="id",
                       code="session_not_found")
    return msgspec.convert(tree, SessionDetail)


async def _users(req: ApiRequest) -> UserList:
    since, until = _times(req.query)
    limit, cursor = page_params(req.query)
    flt = UserFilter(since=since, until=until, users=tuple(req.query.get("user", ())))
    page = await req.db(functools.partial(list_users, req.ctx.engine, flt, limit=limit, cursor=cursor))
    return UserList(data=msgspec.convert(page.rows, list[UserSummary]), has_more=page.next_cursor is not None,
                    next_cursor=page.next_cursor)


def routes() -> list[Route]:
    return [
        Route("GET", "/api/sessions", _sessions, "List sessions, most recently active first", query=(
            Param("from", description="Sessions with a request at or after this time (epoch seconds, ISO 8601 "
                                      "or an age such as 2h, 7d)."),
            Param("to", description="Sessions with a request before this time."),
            Param("user", repeated=True, description="Sessions with a request from this Helicone-User-Id."),
            Param("name", repeated=True, description="Helicone-Session-Name, exact."),
            *PAGE_PARAMS), response=SessionList, tag="sessions",
            description="Totals cover the whole session, also outside the time range."),
        Route("GET", "/api/sessions/{id}", _session, "One session as a tree by Helicone-Session-Path",
              response=SessionDetail, tag="sessions", description=(
                  "Path segments are nodes (`/plan/step-1` is node `step-1` under `plan`); each request sits on "
                  "its path's node, requests without a path on the root. Requests are oldest first.")),
        Route("GET", "/api/users", _users, "List users (Helicone-User-Id), most recently active first", query=(
            *_TIME_PARAMS, Param("user", repeated=True, description="Only these user ids."), *PAGE_PARAMS),
            response=UserList, tag="users", description="Totals count the requests in the time range."),
    ]
