"""The rollup, stats and retention on PostgreSQL (runs when LOCKGATE_TEST_POSTGRES_URL names a
scratch database, e.g. postgresql+psycopg://postgres@/postgres?host=/tmp/pg; its public schema is reset)."""

from __future__ import annotations

import os
import time

import orjson
import pytest
import sqlalchemy as sa

from bench.gen_rows import rows
from lockgate.store.db import migrate, open_engine
from lockgate.store.requests import _REQUEST_COLUMNS
from lockgate.store.retention import Retention
from lockgate.store.rollup import fold_all, read_watermark
from lockgate.store.schema import requests
from lockgate.store.stats import StatsQuery, query_stats
from tests import test_stats_rollup as sqlite_tests

URL = os.environ.get("LOCKGATE_TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="LOCKGATE_TEST_POSTGRES_URL is not set")


def as_dicts(data: list[tuple[object, ...]]) -> list[dict[str, object]]:
    out = []
    for r in data:
        d = dict(zip(_REQUEST_COLUMNS, r, strict=True))
        d["properties"] = orjson.loads(str(d["properties"]))
        out.append(d)
    return out


def test_stats_on_postgres_equal_brute_force() -> None:
    with sa.create_engine(URL).begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine = open_engine(URL)
    migrate(engine)
    end = time.time() - 3600  # older than the fold's lag
    with engine.begin() as conn:
        conn.execute(sa.insert(requests), as_dicts(rows(4000, days=3, end=end, seed=3)))
    assert fold_all(engine) == 4000
    fresh = [r for r in rows(3000, days=1, end=time.time(), seed=5) if float(str(r[1])) > time.time() - 600]
    with engine.begin() as conn:
        conn.execute(sa.insert(requests), as_dicts(fresh))
        assert read_watermark(conn).kind == "ts"
    end = time.time() + 60
    for q in (StatsQuery(), StatsQuery(group_by="model"), StatsQuery(group_by="user", limit=10_000),
              StatsQuery(group_by="property:feature", start=end - 2 * 86400 - 3599.5, end=end - 0.7 * 86400),
              StatsQuery(bucket="hour", start=end - 86400 - 1800, end=end),
              StatsQuery(bucket="day", group_by="provider"),
              StatsQuery(group_by="model", properties=(("environment", "production"),)),
              StatsQuery(bucket="minute", start=end - 7200, end=end - 3600),
              StatsQuery(group_by="user", properties=(("app", "cli"),), limit=10_000)):
        assert sqlite_tests.check(engine, q).total.requests > 0
    done = Retention(engine, rows_after_days=2, batch_rows=100, pause=0).run()
    assert done.rows_deleted > 0 and done.batches > 1
    assert query_stats(engine, StatsQuery()).total.requests == 4000 + len(fresh)  # the rollup keeps them
    engine.dispose()
