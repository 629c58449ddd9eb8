"""The request log: batch inserts (writer thread) and reads (CLI, sub-resource routing)."""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from lockgate.observe.record import LogRecord
from lockgate.store.schema import request_bodies, requests

__all__ = ["count_requests", "get_request", "insert_records", "provider_for_response", "recent_requests"]

_ENCODING = "zlib"
_ZLIB_LEVEL = 1  # bodies are mostly JSON; level 1 gets most of the gain for a fraction of the CPU


def _insert_skipping_existing(conn: sa.Connection, table: sa.Table) -> sa.Insert:
    """INSERT that leaves rows whose primary key already exists alone.

    A record can reach the database twice (a spooled batch replayed after a crash that
    followed the commit); the second copy is skipped rather than failing the batch.
    """
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # ~3 MB of RSS a SQLite gateway never needs

        return postgresql.insert(table).on_conflict_do_nothing()
    return table.insert()


def _compress(data: bytes | memoryview) -> bytes | None:
    """zlib with a window no larger than the body.

    zlib's default state is ~256 KB, allocated and released per call: for the typical
    1-2 KB body that allocation cost 20x the compression itself (~45 µs against ~2 µs).
    Any zlib decoder reads the result (the window size is in the header)."""
    size = len(data)
    if not size:
        return None
    wbits = min(15, max(9, (size - 1).bit_length()))
    packer = zlib.compressobj(_ZLIB_LEVEL, zlib.DEFLATED, wbits, max(1, min(8, wbits - 7)))
    return packer.compress(data) + packer.flush()


_REQUEST_COLUMNS = tuple(c.name for c in requests.columns)
_BODY_COLUMNS = tuple(c.name for c in request_bodies.columns)


def _request_values(rec: LogRecord, has_bodies: bool) -> tuple[Any, ...]:
    """One `requests` row, in column order (checked against the schema by the tests)."""
    meta = rec.meta
    return (
        rec.id, rec.ts, rec.method, rec.path, rec.api, rec.key_id, rec.key_name, rec.stream,
        rec.model_requested, rec.model_resolved, rec.provider, rec.status, rec.error_type, rec.error,
        rec.latency_ms, rec.ttfb_ms, rec.ttft_ms, rec.input_tokens, rec.output_tokens, rec.cached_input_tokens,
        rec.cache_write_tokens, rec.reasoning_tokens, rec.total_tokens, rec.cost_usd, rec.response_id,
        rec.upstream_request_id, meta.session_id, meta.session_path, meta.session_name, meta.user_id,
        dict(meta.properties), rec.user_agent, rec.client_ip, rec.request_bytes, rec.response_bytes, has_bodies,
        rec.source, rec.priced_model, rec.cost_status, rec.cache_write_1h_tokens, rec.key_source,
        rec.provider_api or (rec.api if rec.provider else None), rec.translated, rec.dropped_tools or None,
        rec.usage_estimated,
    )


def _body_values(rec: LogRecord, store_bodies: bool, max_body_bytes: int) -> tuple[Any, ...]:
    """One `request_bodies` row, in column order (a body the client asked to omit is NULL)."""
    meta = rec.meta
    headers = dict(meta.headers) or None
    if not store_bodies:
        return (rec.id, None, None, _ENCODING, False, False, headers, rec.content_type)
    request = b"" if meta.omit_request else rec.request_body or b""
    response = b"" if meta.omit_response else b"".join(rec.response_body)
    # memoryview: cap without copying the (possibly large) body before compressing it.
    return (rec.id, _compress(memoryview(request)[:max_body_bytes]), _compress(memoryview(response)[:max_body_bytes]),
            _ENCODING, len(request) > max_body_bytes,
            not meta.omit_response and (rec.response_truncated or len(response) > max_body_bytes),
            headers, rec.content_type)


def insert_records(conn: sa.Connection, records: list[LogRecord], *, store_bodies: bool,
                   max_body_bytes: int, pace: Callable[[], None] | None = None) -> None:
    """Insert a batch: one executemany per table, inside the caller's transaction.

    With `store_bodies`, each body is capped at `max_body_bytes` and zlib-compressed. The
    Helicone/lockgate annotation headers are kept in the bodies row even without bodies.
    Records whose id is already stored are skipped. `pace` is called after each record's
    rows are built (the writer thread uses it to hand the GIL to the event loop).
    """
    if not records:
        return
    request_rows: list[tuple[Any, ...]] = []
    body_rows: list[tuple[Any, ...]] = []
    for rec in records:
        request_rows.append(_request_values(rec, store_bodies and not (rec.meta.omit_request
                                                                       and rec.meta.omit_response)))
        if store_bodies or rec.meta.headers:
            body_rows.append(_body_values(rec, store_bodies, max_body_bytes))
        if pace is not None:
            pace()
    if conn.dialect.name == "sqlite":
        # The writer's hottest loop: plain tuples into the driver's executemany cost a
        # fraction of SQLAlchemy's per-row parameter processing (same SQL, same semantics).
        _sqlite_executemany(conn, requests, request_rows)
        if body_rows:
            _sqlite_executemany(conn, request_bodies, body_rows)
        return
    conn.execute(_insert_skipping_existing(conn, requests), [dict(zip(_REQUEST_COLUMNS, r, strict=True))
                                                             for r in request_rows])
    if body_rows:
        conn.execute(_insert_skipping_existing(conn, request_bodies),
                     [dict(zip(_BODY_COLUMNS, r, strict=True)) for r in body_rows])


def _sqlite_executemany(conn: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    cols = [c.name for c in table.columns]
    json_at = [i for i, c in enumerate(table.columns) if isinstance(c.type, sa.JSON)]
    sql = (f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
           "ON CONFLICT DO NOTHING")
    if json_at:
        fixed = []
        for row in rows:
            values = list(row)
            for i in json_at:
                if values[i] is not None:
                    values[i] = orjson.dumps(values[i]).decode()
            fixed.append(tuple(values))
        conn.exec_driver_sql(sql, fixed)
    else:
        conn.exec_driver_sql(sql, rows)


def recent_requests(engine: sa.Engine, limit: int = 20,
                    after_ts: float | None = None) -> list[dict[str, Any]]:
    """The newest `limit` rows, newest first; with `after_ts`, the rows after it, oldest first."""
    query = sa.select(requests).limit(limit)
    if after_ts is None:
        query = query.order_by(requests.c.ts.desc(), requests.c.id.desc())
    else:
        query = query.where(requests.c.ts > after_ts).order_by(requests.c.ts, requests.c.id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _decode(data: bytes | None, encoding: str | None, truncated: bool | None) -> str | bytes | None:
    """A stored body as text when it is UTF-8 (else bytes)."""
    if data is None:
        return None
    raw = zlib.decompress(data) if encoding == _ENCODING else data
    try:
        # A body cut at the cap may end inside a multi-byte character: drop that partial tail.
        return codecs.getincrementaldecoder("utf-8")().decode(raw, final=not truncated)
    except UnicodeDecodeError:
        return raw


def get_request(engine: sa.Engine, request_id: str) -> dict[str, Any] | None:
    """One row with its bodies (decompressed), truncation flags, annotation headers and content type."""
    b = request_bodies.c
    query = (sa.select(requests, b.request_body, b.response_body, b.encoding, b.request_truncated,
                       b.response_truncated, b.meta_headers, b.content_type)
             .select_from(requests.outerjoin(request_bodies, b.request_id == requests.c.id))
             .where(requests.c.id == request_id))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    out = dict(row._mapping)
    encoding = out.pop("encoding")
    out["request_body"] = _decode(out["request_body"], encoding, out["request_truncated"])
    out["response_body"] = _decode(out["response_body"], encoding, out["response_truncated"])
    return out


def provider_for_response(engine: sa.Engine, response_id: str) -> str | None:
    """The provider that returned `response_id` (newest row wins), or None."""
    query = (sa.select(requests.c.provider)
             .where(requests.c.response_id == response_id, requests.c.provider.is_not(None))
             .order_by(requests.c.ts.desc()).limit(1))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one_or_none()


def count_requests(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one())
