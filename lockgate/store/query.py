"""Read-only queries over the request log: filtered listings, one request in full, exports.

Listings are newest first and paginated by keyset on (ts, id): an opaque cursor names the
last row shown, the next page starts strictly after it (no OFFSET, so a page costs the same
at any depth, and rows logged meanwhile cannot shift a page).

Body search (`RequestFilter.text`) runs here rather than in SQL: bodies are stored
zlib-compressed, so rows are read in index order with every other filter applied in SQL,
and their bodies are decompressed and searched until the page is full or `scan_limit` rows
have been read. A page that stopped at the scan limit carries a cursor to go on from, and
`scanned` says how many rows it read. This costs the log writer nothing (no search index to
fill per row) and works the same on every database.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.store.filters import Cursor, RequestFilter, before, decode_cursor, encode_cursor, request_conditions
from lockgate.store.requests import get_request
from lockgate.store.schema import request_bodies, request_feedback, request_scores, requests

__all__ = ["MAX_LIMIT", "SCAN_LIMIT", "RequestPage", "count_requests", "iter_requests", "list_requests",
           "request_detail", "requests_query"]

MAX_LIMIT = 1000
SCAN_LIMIT = 10_000  # rows one body-search page may read (~30 µs each with two 2 KB bodies)
_SCAN_CHUNK = 500
_ORDER = (requests.c.ts.desc(), requests.c.id.desc())
# Filters whose column leads a (column, ts) index, in the order they are tried by _split.
_SPLITTABLE = ("sessions", "users", "keys", "models")
_MAX_SPLIT = 32


@dataclass(frozen=True, slots=True)
class RequestPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None  # None: nothing older matches
    scanned: int | None = None  # rows read by a body search (None without one)


class BodyMatcher:
    """Case-insensitive (ASCII letters) substring search in raw or JSON-escaped body text."""

    def __init__(self, text: str) -> None:
        # A JSON body may carry the text escaped (quotes, newlines, \\u for non-ASCII).
        forms = {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
        self._needles = tuple({f.encode("utf-8").lower() for f in forms if f})

    def matches(self, encoding: str | None, *blobs: bytes | None) -> bool:
        for blob in blobs:
            if not blob:
                continue
            try:
                raw = zlib.decompress(blob) if encoding == "zlib" else blob
            except zlib.error:
                continue
            low = raw.lower()
            if any(n in low for n in self._needles):
                return True
        return False


def _page_query(conn: sa.Connection, flt: RequestFilter, cursor: Cursor | None, limit: int,
                with_bodies: bool) -> sa.Select[Any]:
    where = request_conditions(conn, flt)
    if cursor is not None:
        where.append(before(requests.c.ts, requests.c.id, cursor))
    if with_bodies:
        b = request_bodies.c
        # Only what the search needs: full rows are read for the matches alone. Rows without
        # bodies are read (and counted as scanned) too, so that a page past the horizon of
        # stored bodies still ends at the scan limit instead of walking the whole table.
        query = (sa.select(requests.c.ts, requests.c.id, b.request_body, b.response_body, b.encoding)
                 .select_from(requests.outerjoin(request_bodies, b.request_id == requests.c.id))
                 .where(*where))
    else:
        query = sa.select(requests).where(*where)
    return query.order_by(*_ORDER).limit(limit)


def _only(flt: RequestFilter, name: str, value: str) -> RequestFilter:
    change: dict[str, Any] = {name: (value,)}
    return dataclasses.replace(flt, **change)


def _split(flt: RequestFilter) -> list[RequestFilter] | None:
    """One filter per value of the first multi-valued indexed filter, or None.

    `user IN (a, b)` cannot be read from the (user_id, ts) index in ts order: SQLite would
    sort every row of both users (0.8 s for two heavy users in a million rows). One ordered,
    limited read per value, merged, costs a page per value instead.
    """
    for name in _SPLITTABLE:
        values: tuple[str, ...] = getattr(flt, name)
        if 1 < len(values) <= _MAX_SPLIT:
            return [_only(flt, name, v) for v in values]
    return None


def requests_query(conn: sa.Connection, flt: RequestFilter, cursor: Cursor | None, limit: int,
                   with_bodies: bool = False) -> sa.Select[Any]:
    """The SELECT for one page, newest first (exposed so the tests can EXPLAIN it)."""
    parts = _split(flt)
    if parts is None:
        return _page_query(conn, flt, cursor, limit, with_bodies)
    merged = sa.union_all(*(sa.select(_page_query(conn, p, cursor, limit, with_bodies).subquery())
                            for p in parts)).subquery()
    return sa.select(merged).order_by(merged.c.ts.desc(), merged.c.id.desc()).limit(limit)


def _select(conn: sa.Connection, flt: RequestFilter, cursor: Cursor | None, limit: int,
            with_bodies: bool) -> list[sa.Row[Any]]:
    return list(conn.execute(requests_query(conn, flt, cursor, limit, with_bodies)))


def list_requests(engine: sa.Engine, flt: RequestFilter, *, limit: int = 50, cursor: Cursor | None = None,
                  scan_limit: int | None = SCAN_LIMIT) -> RequestPage:
    """One page of matching rows, newest first. `scan_limit` bounds a body search (None: no bound)."""
    limit = max(1, min(limit, MAX_LIMIT))
    with engine.connect() as conn:
        if flt.text is None:
            rows = _select(conn, flt, cursor, limit + 1, with_bodies=False)
            more = len(rows) > limit
            rows = rows[:limit]
            last = rows[-1] if more else None
            return RequestPage([dict(r._mapping) for r in rows],
                               encode_cursor(last.ts, last.id) if last is not None else None)
        return _search(conn, flt, limit, cursor, scan_limit)


def _search(conn: sa.Connection, flt: RequestFilter, limit: int, cursor: Cursor | None,
            scan_limit: int | None) -> RequestPage:
    assert flt.text is not None
    matcher = BodyMatcher(flt.text)
    found: list[str] = []
    scanned = 0
    position = cursor
    next_cursor: str | None = None
    while True:
        chunk = _SCAN_CHUNK if scan_limit is None else min(_SCAN_CHUNK, scan_limit - scanned)
        rows = _select(conn, flt, position, chunk, with_bodies=True)
        for row in rows:
            scanned += 1
            position = Cursor(row.ts, row.id)
            if matcher.matches(row.encoding, row.request_body, row.response_body):
                found.append(row.id)
                if len(found) == limit:
                    break
        if len(found) == limit:
            # Whether anything older matches is unknown without reading on: say "maybe".
            next_cursor = encode_cursor(position.ts, position.id) if position is not None else None
            break
        if len(rows) < chunk:
            break  # read to the end
        if scan_limit is not None and scanned >= scan_limit:
            assert position is not None
            next_cursor = encode_cursor(position.ts, position.id)
            break
    full = {r.id: dict(r._mapping) for r in conn.execute(sa.select(requests).where(requests.c.id.in_(found)))}
    return RequestPage([full[i] for i in found if i in full], next_cursor, scanned)


def iter_requests(engine: sa.Engine, flt: RequestFilter, *, chunk: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching row, newest first, read `chunk` rows per query (each its own short read
    transaction, so an export of millions of rows neither sits in memory nor holds a snapshot)."""
    cursor: Cursor | None = None
    while True:
        page = list_requests(engine, flt, limit=chunk, cursor=cursor, scan_limit=chunk * 20)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = decode_cursor(page.next_cursor)


def count_requests(engine: sa.Engine, flt: RequestFilter) -> int:
    """How many rows match the SQL filters (a body search may match fewer)."""
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(requests).where(*request_conditions(conn, flt))
        return int(conn.execute(query).scalar_one())


def request_detail(engine: sa.Engine, request_id: str) -> dict[str, Any] | None:
    """One row with its bodies (text, or base64 when not UTF-8), annotation headers, feedback, scores."""
    row = get_request(engine, request_id)
    if row is None:
        return None
    encoding = "utf-8"
    for name in ("request_body", "response_body"):
        if isinstance(row[name], bytes):
            encoding = "base64"
    if encoding == "base64":
        for name in ("request_body", "response_body"):
            value = row[name]
            if value is not None:
                raw = value.encode("utf-8") if isinstance(value, str) else value
                row[name] = base64.b64encode(raw).decode("ascii")
    row["body_encoding"] = encoding
    f, s = request_feedback.c, request_scores.c
    with engine.connect() as conn:
        fb = conn.execute(sa.select(f.rating, f.created_at, f.updated_at).where(f.request_id == request_id)).first()
        scores = conn.execute(sa.select(s.name, s.value).where(s.request_id == request_id).order_by(s.name)).all()
    row["feedback"] = dict(fb._mapping) if fb is not None else None
    row["scores"] = {name: value for name, value in scores}
    return row
