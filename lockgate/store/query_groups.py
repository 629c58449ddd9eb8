"""Read-only groupings of the request log: sessions (list and tree by path) and users.

Lists are paginated by keyset on (last activity, id), newest first. A page is found in two
steps: the ids of the page come from a GROUP BY over the (session_id, ts) / (user_id, ts)
index alone, then only those ids are totalled. Totalling every group just to show fifty
would read every row of the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import sqlalchemy as sa

from lockgate.store.filters import Cursor, encode_cursor
from lockgate.store.schema import requests

__all__ = ["GroupPage", "SessionFilter", "Totals", "UserFilter", "list_sessions", "list_users", "session_tree"]

MAX_SESSION_REQUESTS = 10_000
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")


@dataclass(frozen=True, slots=True)
class SessionFilter:
    since: float | None = None  # sessions with a request at or after this time
    until: float | None = None  # ... and before this time
    users: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UserFilter:
    since: float | None = None  # totals count requests in [since, until) only
    until: float | None = None
    users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def _time(since: float | None, until: float | None) -> list[sa.ColumnElement[bool]]:
    out: list[sa.ColumnElement[bool]] = []
    if since is not None:
        out.append(requests.c.ts >= since)
    if until is not None:
        out.append(requests.c.ts < until)
    return out


def _totals() -> list[sa.ColumnElement[Any]]:
    c = requests.c
    zero = sa.literal(0)
    total = sa.func.coalesce(c.total_tokens, sa.func.coalesce(c.input_tokens, zero)
                             + sa.func.coalesce(c.output_tokens, zero))
    return [
        sa.func.count().label("requests"),
        sa.func.coalesce(sa.func.sum(sa.case((c.status >= 400, 1), else_=0)), 0).label("errors"),
        *(sa.func.coalesce(sa.func.sum(c[name]), 0).label(name) for name in _TOKEN_FIELDS),
        sa.func.coalesce(sa.func.sum(total), 0).label("total_tokens"),
        sa.func.sum(c.cost_usd).label("cost_usd"),
        sa.func.coalesce(sa.func.sum(sa.case((c.cost_usd.is_(None), 1), else_=0)), 0).label("unpriced_requests"),
        sa.func.coalesce(sa.func.sum(c.latency_ms), 0.0).label("latency_ms"),
        sa.func.min(c.ts).label("first_ts"),
        sa.func.max(c.ts).label("last_ts"),
        sa.func.max(c.ts + sa.func.coalesce(c.latency_ms, 0.0) / 1000.0).label("end_ts"),
    ]


def _page_ids(conn: sa.Connection, column: sa.ColumnElement[Any], where: list[sa.ColumnElement[bool]],
              limit: int, cursor: Cursor | None) -> tuple[list[str], str | None]:
    """One page of group ids, by their newest request in `where`, newest first."""
    last = sa.func.max(requests.c.ts)
    query = sa.select(column, last.label("last")).where(column.is_not(None), *where).group_by(column)
    if cursor is not None:
        query = query.having(sa.or_(last < cursor.ts, sa.and_(last == cursor.ts, column < cursor.id)))
    rows = conn.execute(query.order_by(last.desc(), column.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [r[0] for r in rows], encode_cursor(rows[-1][1], rows[-1][0]) if more else None


def _duration(row: dict[str, Any]) -> None:
    row["duration_ms"] = max(0.0, (row.pop("end_ts") - row["first_ts"]) * 1000.0)


def list_sessions(engine: sa.Engine, flt: SessionFilter, *, limit: int = 50,
                  cursor: Cursor | None = None) -> GroupPage:
    """Sessions with matching requests, by latest activity; totals cover the whole session."""
    c = requests.c
    where = _time(flt.since, flt.until)
    if flt.users:
        where.append(c.user_id.in_(flt.users))
    if flt.names:
        where.append(c.session_name.in_(flt.names))
    with engine.connect() as conn:
        ids, next_cursor = _page_ids(conn, c.session_id, where, limit, cursor)
        if not ids:
            return GroupPage([], None)
        query = (sa.select(c.session_id.label("id"), sa.func.max(c.session_name).label("name"),
                           sa.func.max(c.user_id).label("user_id"), *_totals())
                 .where(c.session_id.in_(ids)).group_by(c.session_id))
        found = {r.id: dict(r._mapping) for r in conn.execute(query)}
    rows = [found[i] for i in ids if i in found]
    for row in rows:
        _duration(row)
    return GroupPage(rows, next_cursor)


def list_users(engine: sa.Engine, flt: UserFilter, *, limit: int = 50, cursor: Cursor | None = None) -> GroupPage:
    """Users (Helicone-User-Id) by latest request; totals count the requests in the time range."""
    c = requests.c
    where = _time(flt.since, flt.until)
    if flt.users:
        where.append(c.user_id.in_(flt.users))
    with engine.connect() as conn:
        ids, next_cursor = _page_ids(conn, c.user_id, where, limit, cursor)
        if not ids:
            return GroupPage([], None)
        query = (sa.select(c.user_id.label("id"), *_totals())
                 .where(c.user_id.in_(ids), *where).group_by(c.user_id))
        found = {r.id: dict(r._mapping) for r in conn.execute(query)}
    rows = [found[i] for i in ids if i in found]
    for row in rows:
        _duration(row)
    return GroupPage(rows, next_cursor)


# -- one session as a tree ----------------------------------------------------------------


@dataclass(slots=True)
class Totals:
    """Sums over a set of requests; duration is wall-clock, first start to last end."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = None
    unpriced_requests: int = 0
    latency_ms: float = 0.0
    first_ts: float | None = None
    last_ts: float | None = None
    end_ts: float | None = None

    def add(self, r: dict[str, Any]) -> None:
        self.requests += 1
        self.errors += r["status"] >= 400
        for name in _TOKEN_FIELDS:
            setattr(self, name, getattr(self, name) + (r[name] or 0))
        self.total_tokens += r["total_tokens"] if r["total_tokens"] is not None else \
            (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
        if r["cost_usd"] is None:
            self.unpriced_requests += 1
        else:
            self.cost_usd = (self.cost_usd or 0.0) + r["cost_usd"]
        self.latency_ms += r["latency_ms"] or 0.0
        end = r["ts"] + (r["latency_ms"] or 0.0) / 1000.0
        self.first_ts = r["ts"] if self.first_ts is None else min(self.first_ts, r["ts"])
        self.last_ts = r["ts"] if self.last_ts is None else max(self.last_ts, r["ts"])
        self.end_ts = end if self.end_ts is None else max(self.end_ts, end)

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "end_ts"}
        out["duration_ms"] = 0.0 if self.end_ts is None or self.first_ts is None else \
            max(0.0, (self.end_ts - self.first_ts) * 1000.0)
        return out


@dataclass(slots=True)
class _Node:
    name: str
    path: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)
    own: Totals = field(default_factory=Totals)
    total: Totals = field(default_factory=Totals)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "own": self.own.as_dict(), "total": self.total.as_dict(),
                "requests": self.requests, "children": [ch.as_dict() for ch in self.children.values()]}


_TREE_COLUMNS = ("id", "ts", "session_path", "session_name", "user_id", "api", "model_requested", "model_resolved",
                 "provider", "status", "error_type", "latency_ms", "ttft_ms", *_TOKEN_FIELDS, "total_tokens",
                 "cost_usd")


def segments(path: str | None) -> list[str]:
    """`/plan/step-1` → ["plan", "step-1"]; empty segments are dropped, no path is the root."""
    return [s for s in (path or "").split("/") if s]


def build_tree(rows: Sequence[dict[str, Any]]) -> _Node:
    """Nodes for every path prefix; each request on its path's node, counted up to the root."""
    root = _Node(name="", path="/")
    for r in rows:
        node = root
        chain = [root]
        for i, seg in enumerate(segments(r["session_path"])):
            child = node.children.get(seg)
            if child is None:
                child = node.children[seg] = _Node(seg, "/" + "/".join(segments(r["session_path"])[:i + 1]))
            node = child
            chain.append(node)
        node.requests.append(r)
        node.own.add(r)
        for n in chain:
            n.total.add(r)
    return root


def session_tree(engine: sa.Engine, session_id: str, *,
                 max_requests: int = MAX_SESSION_REQUESTS) -> dict[str, Any] | None:
    """The session's requests as a tree by Helicone-Session-Path, oldest first; None if unknown."""
    c = requests.c
    query = (sa.select(*(c[name] for name in _TREE_COLUMNS)).where(c.session_id == session_id)
             .order_by(c.ts, c.id).limit(max_requests + 1))
    with engine.connect() as conn:
        # Plain str keys (the mapping's are SQLAlchemy's quoted names, which msgspec refuses).
        rows = [dict(zip(_TREE_COLUMNS, r, strict=True)) for r in conn.execute(query)]
    if not rows:
        return None
    truncated = len(rows) > max_requests
    rows = rows[:max_requests]
    names = [r.pop("session_name") for r in rows]
    users = sorted({u for r in rows if (u := r.pop("user_id"))})
    names = [n for n in names if n]
    root = build_tree(rows)
    return {"id": session_id, "name": names[-1] if names else None, "user_ids": users,
            "truncated": truncated, "root": root.as_dict()}
