"""Stats from the rollup against a brute-force computation over the raw rows (real SQLite files)."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from bench.gen_rows import generate
from lockgate.observe.record import LogRecord, RequestMeta
from lockgate.store import histogram
from lockgate.store.db import begin_write, open_engine
from lockgate.store.requests import insert_records
from lockgate.store.rollup import backlog, fold, fold_all, read_watermark
from lockgate.store.stats import StatsQuery, StatsResponse, StatsRow, query_stats

END = 1_790_000_000.0 + 1234.5  # not on an hour boundary
DAY = 86400.0


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """6000 generated rows over 3 days; all but the newest ~500 rowids folded."""
    path = Path(tmp_path_factory.mktemp("stats")) / "lockgate.db"
    generate(path, 6000, days=3, end=END, seed=3)
    engine = open_engine(f"sqlite:///{path}")
    fold_all(engine, max_rows=1000)
    generate(path, 500, days=3, end=END, seed=4)  # rows the rollup has not seen, with old and new start times
    yield engine
    engine.dispose()


def raw_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM requests")]
    for r in rows:
        r["properties"] = orjson.loads(r["properties"]) if isinstance(r["properties"], str) else r["properties"] or {}
    return rows


def dim(row: dict[str, Any], name: str) -> str | None:
    if name.startswith("property:"):
        return row["properties"].get(name.split(":", 1)[1])
    col = {"model": "model_resolved", "provider": "provider", "key": "key_id", "user": "user_id"}[name]
    return row[col]


def nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(1, math.ceil(q * len(s))) - 1]


def check_row(got: StatsRow, rows: list[dict[str, Any]]) -> None:
    assert got.requests == len(rows)
    assert got.errors == sum(r["status"] >= 400 for r in rows)
    assert got.streamed == sum(bool(r["stream"]) for r in rows)
    for field, col in (("input", "input_tokens"), ("output", "output_tokens"), ("cached_input", "cached_input_tokens"),
                       ("cache_write", "cache_write_tokens"), ("reasoning", "reasoning_tokens"),
                       ("total", "total_tokens")):
        assert getattr(got.tokens, field) == sum(r[col] or 0 for r in rows), field
    assert got.cost_usd == pytest.approx(sum(r["cost_usd"] or 0 for r in rows), rel=1e-9, abs=1e-12)
    assert got.cost_unknown == sum(r["cost_usd"] is None for r in rows)
    for metric, col, qs in ((got.latency_ms, "latency_ms", (0.5, 0.95, 0.99)), (got.ttft_ms, "ttft_ms", (0.5, 0.95))):
        values = [r[col] for r in rows if r[col] is not None]
        assert metric.count == len(values)
        if values:
            assert metric.avg == pytest.approx(sum(values) / len(values), rel=1e-9)
        for q in qs:
            exact = nearest_rank(values, q)
            est = getattr(metric, f"p{round(q * 100)}")
            if exact is None:
                assert est is None
            elif exact >= histogram.LOW_MS:
                assert abs(est - exact) / exact <= histogram.MAX_RELATIVE_ERROR + 1e-12, (q, est, exact)
            else:
                assert abs(est - exact) <= histogram.LOW_MS / 2


def brute(rows: list[dict[str, Any]], q: StatsQuery) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    size = {"minute": 60, "hour": 3600, "day": 86400}.get(q.bucket or "")
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    props = q.property_filters()
    for r in rows:
        if (q.start is not None and r["ts"] < q.start) or (q.end is not None and r["ts"] >= q.end):
            continue
        if any(dim(r, d) not in vals for d, vals in q.dim_filters().items()):
            continue
        if any(r["properties"].get(name) not in vals for name, vals in props.items()):
            continue
        if q.group_property and q.group_property not in r["properties"]:
            continue
        key: list[Any] = []
        if size:
            key.append(int(r["ts"] // size * size))
        if q.group_by:
            key.append(dim(r, q.group_by))
        out.setdefault(tuple(key), []).append(r)
    return out


def check(engine: sa.Engine, q: StatsQuery) -> StatsResponse:
    got = query_stats(engine, q)
    expected = brute(raw_rows(engine), q)
    by_key = {}
    for row in got.rows:
        key: list[Any] = []
        if q.bucket:
            key.append(row.bucket_ts)
        if q.group_by:
            key.append(row.group)
        by_key[tuple(key)] = row
    assert set(by_key) == set(expected) or (not expected and got.total.requests == 0)
    for key, rows in expected.items():
        check_row(by_key[key], rows)
    check_row(got.total, [r for rs in expected.values() for r in rs])
    return got


QUERIES = [
    StatsQuery(),
    StatsQuery(group_by="model"),
    StatsQuery(group_by="provider", start=END - 2.5 * DAY + 17.25, end=END - 600),
    StatsQuery(group_by="key", start=END - 1.2 * DAY),
    StatsQuery(group_by="user", limit=10_000),
    StatsQuery(group_by="property:feature", start=END - 2 * DAY - 3599.5, end=END - 0.7 * DAY),
    StatsQuery(bucket="hour", start=END - DAY - 1800, end=END),
    StatsQuery(bucket="day", group_by="model", start=END - 3 * DAY, end=END + 10),
    StatsQuery(bucket="minute", start=END - 2 * 3600 - 7, end=END - 3600),
    StatsQuery(group_by="model", models=("gpt-5", "claude-sonnet-4-5"), providers=("anthropic",)),
    StatsQuery(group_by="user", models=("gpt-4o-mini",), keys=("key_000000000002",), limit=10_000),
    StatsQuery(group_by="model", users=("user-00000", "user-00003")),
    StatsQuery(group_by="property:environment", properties=(("environment", "staging"), ("environment", "dev"))),
    StatsQuery(group_by="model", properties=(("experiment", "B"),), start=END - 2 * DAY + 100),
    StatsQuery(group_by="property:feature", providers=("openai",), bucket="day"),
    # No rollup series for these: raw rows only, same answers.
    StatsQuery(group_by="user", properties=(("app", "cli"),), limit=10_000),
    StatsQuery(group_by="property:app", properties=(("environment", "production"),)),
]


@pytest.mark.parametrize("q", QUERIES, ids=lambda q: repr(q)[11:70])
def test_stats_equal_brute_force(big: sa.Engine, q: StatsQuery) -> None:
    got = check(big, q)
    assert got.total.requests > 0


def test_the_rollup_does_the_work(big: sa.Engine) -> None:
    got = query_stats(big, StatsQuery())
    with big.connect() as conn:
        waiting = backlog(conn)
    assert 0 < waiting <= 600 and got.raw_rows <= waiting  # only the rows not folded yet are read raw
    assert got.rollup_rows <= 5 and got.percentile_error == pytest.approx(0.0443, abs=1e-4)  # the "all" series
    by_model = query_stats(big, StatsQuery(group_by="model"))
    assert 0 < by_model.rollup_rows < 300 and by_model.raw_rows <= 2 * waiting  # the total reads the tail again
    minute = query_stats(big, StatsQuery(bucket="minute", start=END - 3600, end=END))
    assert minute.rollup_rows == 0 and minute.raw_rows == 2 * minute.total.requests  # rows, then the total


def test_limit_keeps_the_largest_groups(big: sa.Engine) -> None:
    full = query_stats(big, StatsQuery(group_by="user", limit=10_000))
    top = query_stats(big, StatsQuery(group_by="user", limit=5))
    assert top.truncated and not full.truncated and top.groups == full.groups == len(full.rows)
    biggest = sorted(full.rows, key=lambda r: (-r.requests, r.group or ""))[:5]
    assert [r.group for r in top.rows] == [r.group for r in biggest]
    assert top.total.requests == full.total.requests  # the total is over every group


def rec(i: int, ts: float, **kw: Any) -> LogRecord:
    r = LogRecord(id=f"edge-{i:05d}", ts=ts, method="POST", path="/v1/chat/completions", api="chat", status=200,
                  provider="openai", model_resolved="gpt-5", latency_ms=100.0 + i, input_tokens=10, output_tokens=1)
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def write(engine: sa.Engine, records: list[LogRecord]) -> None:
    with begin_write(engine) as conn:
        insert_records(conn, records, store_bodies=False, max_body_bytes=0)


def test_new_rows_show_up_in_the_next_answer(engine: sa.Engine) -> None:
    h = 1_790_002_800.0  # an hour boundary
    write(engine, [rec(i, h + i * 60) for i in range(10)])
    fold_all(engine)
    assert query_stats(engine, StatsQuery()).total.requests == 10
    # Written the way the log writer writes, not folded: in the very next answer.
    write(engine, [rec(100 + i, h - 3 * DAY + i, meta=RequestMeta(user_id="late")) for i in range(3)])
    write(engine, [rec(200, h + 30)])
    got = query_stats(engine, StatsQuery(group_by="user"))
    assert got.total.requests == 14 and {r.group: r.requests for r in got.rows} == {None: 11, "late": 3}
    assert got.raw_rows == 8  # the 4 new rows, for the groups and again for the total
    n, more = fold(engine)
    assert (n, more) == (4, False)
    again = query_stats(engine, StatsQuery(group_by="user"))
    assert again.raw_rows == 0 and [(r.group, r.requests) for r in again.rows] == [(r.group, r.requests)
                                                                                  for r in got.rows]
    assert fold(engine) == (0, False)  # nothing twice


def test_bucket_edges_start_inclusive_end_exclusive(engine: sa.Engine) -> None:
    h = 1_790_002_800.0
    d = h - h % DAY
    times = [d - 0.001, d, d + 3599.999, d + 3600, h, h + 59.999, h + 60]
    write(engine, [rec(i, t) for i, t in enumerate(times)])
    fold_all(engine)
    by_hour = query_stats(engine, StatsQuery(bucket="hour", start=d - 3600, end=d + 2 * 3600))
    assert [(r.bucket_ts, r.requests) for r in by_hour.rows] == [(d - 3600, 1), (d, 2), (d + 3600, 1)]
    assert by_hour.rows[1].bucket == dt.datetime.fromtimestamp(d, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    by_day = query_stats(engine, StatsQuery(bucket="day"))
    assert [(r.bucket_ts, r.requests) for r in by_day.rows] == [(d - DAY, 1), (d, 6)]
    assert query_stats(engine, StatsQuery(start=d, end=d + 3600)).total.requests == 2
    assert query_stats(engine, StatsQuery(start=h, end=h + 60)).total.requests == 2
    minute = query_stats(engine, StatsQuery(bucket="minute", start=h, end=h + 120))
    assert [(r.bucket_ts, r.requests) for r in minute.rows] == [(h, 2), (h + 60, 1)]


def test_chunked_folds_equal_one_fold(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for p in (a, b):
        generate(p, 1500, days=2, end=END, seed=9)
    ea, eb = open_engine(f"sqlite:///{a}"), open_engine(f"sqlite:///{b}")
    fold_all(ea, max_rows=97)
    fold_all(eb)
    with ea.connect() as ca, eb.connect() as cb:
        rows_a = ca.exec_driver_sql("SELECT * FROM stats_rollup ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9").all()
        rows_b = cb.exec_driver_sql("SELECT * FROM stats_rollup ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9").all()
        assert read_watermark(ca) == read_watermark(cb)
    assert len(rows_a) == len(rows_b) > 0
    for x, y in zip(rows_a, rows_b, strict=True):
        assert x[:9] == y[:9] and all(u == pytest.approx(v, rel=1e-9) for u, v in zip(x[9:], y[9:], strict=True))
    ea.dispose()
    eb.dispose()


def test_sql_bins_match_python_bins(engine: sa.Engine) -> None:
    rng = random.Random(5)
    values = [0.0, 0.5, 0.999, 1.0, *histogram.EDGES, *(e * (1 - 1e-12) for e in histogram.EDGES),
              *(10 ** rng.uniform(-1, 7.5) for _ in range(2000)), 1e12]
    vals = sa.table("vals", sa.column("v", sa.Float))
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE vals (v REAL)")
        conn.exec_driver_sql("INSERT INTO vals VALUES (?)", [(v,) for v in values] + [(None,)])
        got = conn.execute(sa.select(vals.c.v, histogram.bin_sql("vals.v"))).all()
    assert len(got) == len(values) + 1
    for v, b in got:
        assert b == (None if v is None else histogram.bin_of(v)), v


def test_packing_round_trip() -> None:
    counts = [random.Random(i).randrange(0, 2**31) for i in range(histogram.BINS)]
    packed = histogram.pack(counts)
    assert len(packed) == histogram.COLUMNS and histogram.unpack(packed) == counts
    assert histogram.unpack([a + b for a, b in zip(packed, histogram.pack([1] * histogram.BINS), strict=True)]) == [
        c + 1 for c in counts]
    assert histogram.percentile([0] * histogram.BINS, 0.5) is None


def test_bad_queries_are_refused() -> None:
    for kw, msg in (({"group_by": "colour"}, "group_by"), ({"bucket": "week"}, "bucket"),
                    ({"start": 10.0, "end": 5.0}, "after `from`"), ({"bucket": "minute"}, "`from` and `to`"),
                    ({"bucket": "minute", "start": 0.0, "end": 1e6}, "coarser"), ({"limit": 0}, "limit")):
        with pytest.raises(ValueError, match=msg):
            StatsQuery(**kw)  # type: ignore[arg-type]
