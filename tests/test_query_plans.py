"""The query layer's SQL on SQLite: every offered filter reads through an index (EXPLAIN QUERY PLAN)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate.store.db import migrate, open_engine
from lockgate.store.filters import (
    Cursor,
    FilterError,
    RequestFilter,
    build_request_filter,
    decode_cursor,
    encode_cursor,
    parse_time,
)
from lockgate.store.query import requests_query
from lockgate.store.schema import requests


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sa.Connection]:
    engine = open_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    migrate(engine)
    with engine.connect() as c:
        yield c
    engine.dispose()


def plan(conn: sa.Connection, query: sa.Select[tuple[object, ...]]) -> str:
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
    return "\n".join(str(r[3]) for r in rows)


CUR = Cursor(1_700_000_000.5, "0190-abc")


@pytest.mark.parametrize(("flt", "index"), [
    (RequestFilter(), "SCAN requests USING INDEX ix_requests_ts_id"),
    (RequestFilter(since=1.0, until=2.0), "SEARCH requests USING INDEX ix_requests_ts_id (ts>? AND ts<?)"),
    (RequestFilter(models=("gpt-5",)), "USING INDEX ix_requests_model_resolved_ts (model_resolved=?)"),
    (RequestFilter(users=("alice",), since=1.0), "USING INDEX ix_requests_user_id_ts (user_id=? AND ts>?)"),
    (RequestFilter(sessions=("s1",)), "USING INDEX ix_requests_session_id_ts (session_id=?)"),
    (RequestFilter(keys=("key_1",)), "USING INDEX ix_requests_key_id_ts (key_id=?)"),
    (build_request_filter(status="error"), "SCAN requests USING INDEX ix_requests_errors_ts_id"),
    (build_request_filter(status="5xx"), "SCAN requests USING INDEX ix_requests_errors_ts_id"),
    (build_request_filter(status="429,503", since="1"), "USING INDEX ix_requests_errors_ts_id (ts>?)"),
    # Unindexed filters read the time index newest first and stop at the page's LIMIT.
    (RequestFilter(providers=("openai",)), "SCAN requests USING INDEX ix_requests_ts_id"),
    (build_request_filter(properties=["env:prod"]), "SCAN requests USING INDEX ix_requests_ts_id"),
    (RequestFilter(min_latency_ms=100.0, min_cost_usd=0.5), "SCAN requests USING INDEX ix_requests_ts_id"),
])
def test_filters_read_through_an_index(conn: sa.Connection, flt: RequestFilter, index: str) -> None:
    assert index in plan(conn, requests_query(conn, flt, None, 51))
    # A later page (with a cursor) searches the same index from the cursor's ts down.
    name = index.split("USING INDEX ")[1].split(" (")[0]
    text = plan(conn, requests_query(conn, flt, CUR, 51))
    assert f"SEARCH requests USING INDEX {name} (" in text and "ts<?" in text, text
    assert "USE TEMP B-TREE FOR ORDER BY" not in text, text


@pytest.mark.parametrize("flt", [
    RequestFilter(models=("gpt-5", "o3"), since=1.0),
    RequestFilter(users=("a", "b", "c"), models=("gpt-5", "o3")),
    RequestFilter(keys=("key_1", "key_2"), text="x"),
])
def test_several_values_are_read_one_ordered_page_each(conn: sa.Connection, flt: RequestFilter) -> None:
    # IN (a, b) on a (column, ts) index would sort every matching row; instead each value
    # gets its own ordered, limited read and only those pages are merged.
    column = "user_id" if flt.users else "key_id" if flt.keys else "model_resolved"
    for cursor in (None, CUR):
        text = plan(conn, requests_query(conn, flt, cursor, 51, with_bodies=flt.text is not None))
        assert text.startswith("MERGE (UNION ALL)"), text
        branches = len(flt.users or flt.keys or flt.models)
        assert text.count(f"SEARCH requests USING INDEX ix_requests_{column}_ts ({column}=?") == branches, text


def test_body_search_reads_bodies_by_primary_key(conn: sa.Connection) -> None:
    text = plan(conn, requests_query(conn, RequestFilter(text="x", users=("u",)), CUR, 500, with_bodies=True))
    assert "USING INDEX ix_requests_user_id_ts" in text and "request_bodies USING INDEX" in text, text


def test_group_pages_use_covering_indexes(conn: sa.Connection) -> None:
    c = requests.c
    for column, index in ((c.session_id, "ix_requests_session_id_ts"), (c.user_id, "ix_requests_user_id_ts")):
        last = sa.func.max(c.ts)
        query = (sa.select(column, last).where(column.is_not(None)).group_by(column)
                 .order_by(last.desc()).limit(51))
        assert f"USING COVERING INDEX {index}" in plan(conn, query)


def test_time_cursor_and_property_parsing() -> None:
    assert parse_time("1700000000.25") == 1700000000.25
    assert parse_time("2026-01-02T03:04:05Z") == parse_time("2026-01-02T03:04:05") == 1767323045.0
    assert parse_time("2026-01-02T04:04:05+01:00") == 1767323045.0
    assert parse_time("2h", now=10_000.0) == 10_000.0 - 7200
    for bad in ("nan", "inf", "tomorrow", "2h ago", ""):
        with pytest.raises(FilterError):
            parse_time(bad)
    assert decode_cursor(encode_cursor(1.0000000000000002, "id/with:odd chars")) == Cursor(
        1.0000000000000002, "id/with:odd chars")
    flt = build_request_filter(properties=["Team:a:b", "env"], status="4xx, 503")
    assert flt.properties == (("team", "a:b"), ("env", None))
    assert [(m.low, m.high) for m in flt.status] == [(400, 499), (503, 503)]
