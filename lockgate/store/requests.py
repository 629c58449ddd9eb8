"""The request log: batch inserts (writer thread) and reads (CLI, sub-resource routing)."""

from __future__ import annotations

import codecs
import zlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

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
        return postgresql.insert(table).on_conflict_do_nothing()
    return table.insert()


def _compress(data: bytes | memoryview) -> bytes | None:
    return zlib.compress(data, _ZLIB_LEVEL) if len(data) else None


def _request_row(rec: LogRecord, has_bodies: bool) -> dict[str, Any]:
    meta = rec.meta
    return {
        "id": rec.id, "ts": rec.ts, "method": rec.method, "path": rec.path, "api": rec.api,
        "key_id": rec.key_id, "key_name": rec.key_name, "stream": rec.stream,
        "model_requested": rec.model_requested, "model_resolved": rec.model_resolved,
        "provider": rec.provider,
        "status": rec.status, "error_type": rec.error_type, "error": rec.error,
        "latency_ms": rec.latency_ms, "ttfb_ms": rec.ttfb_ms, "ttft_ms": rec.ttft_ms,
        "input_tokens": rec.input_tokens, "output_tokens": rec.output_tokens,
        "cached_input_tokens": rec.cached_input_tokens, "cache_write_tokens": rec.cache_write_tokens,
        "reasoning_tokens": rec.reasoning_tokens, "total_tokens": rec.total_tokens, "cost_usd": None,
        "response_id": rec.response_id, "upstream_request_id": rec.upstream_request_id,
        "session_id": meta.session_id, "session_path": meta.session_path, "session_name": meta.session_name,
        "user_id": meta.user_id, "properties": dict(meta.properties),
        "user_agent": rec.user_agent, "client_ip": rec.client_ip,
        "request_bytes": rec.request_bytes, "response_bytes": rec.response_bytes, "has_bodies": has_bodies,
    }


def _bodies_row(rec: LogRecord, store_bodies: bool, max_body_bytes: int) -> dict[str, Any]:
    request = rec.request_body or b""
    response = b"".join(rec.response_body) if store_bodies else b""
    row: dict[str, Any] = {
        "request_id": rec.id, "request_body": None, "response_body": None, "encoding": _ENCODING,
        "request_truncated": False, "response_truncated": False,
        "meta_headers": dict(rec.meta.headers) or None, "content_type": rec.content_type,
    }
    if store_bodies:
        # memoryview: cap without copying the (possibly large) body before compressing it.
        row["request_body"] = _compress(memoryview(request)[:max_body_bytes])
        row["response_body"] = _compress(memoryview(response)[:max_body_bytes])
        row["request_truncated"] = len(request) > max_body_bytes
        row["response_truncated"] = rec.response_truncated or len(response) > max_body_bytes
    return row


def insert_records(conn: sa.Connection, records: list[LogRecord], *, store_bodies: bool,
                   max_body_bytes: int) -> None:
    """Insert a batch: one executemany per table, inside the caller's transaction.

    With `store_bodies`, each body is capped at `max_body_bytes` and zlib-compressed. The
    Helicone/lockgate annotation headers are kept in the bodies row even without bodies.
    Records whose id is already stored are skipped.
    """
    if not records:
        return
    request_rows = [_request_row(r, store_bodies) for r in records]
    body_rows = [_bodies_row(r, store_bodies, max_body_bytes) for r in records
                 if store_bodies or r.meta.headers]
    conn.execute(_insert_skipping_existing(conn, requests), request_rows)
    if body_rows:
        conn.execute(_insert_skipping_existing(conn, request_bodies), body_rows)


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
