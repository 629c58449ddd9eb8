"""Stats over the request log: counts, tokens, cost, errors, latency and TTFT percentiles,
grouped by a dimension and/or a time bucket, answered from the rollup plus raw rows.

A time range [start, end) is cut into whole days (day rollup rows), whole hours (hour
rollup rows) and the partial hours at its ends (raw rows, via the ts index); rows the
rollup has not folded yet are read raw too, all in one read snapshot, so an answer always
includes the newest rows. Minute buckets, and filters the rollup has no series for (a user
together with a property, two different properties), read raw rows only: correct, but
their cost grows with the range.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa

from lockgate.store import histogram
from lockgate.store.aggregate import NSUMS, Agg
from lockgate.store.rollup import (
    DAY,
    HOUR,
    KEY,
    MODEL,
    PROVIDER,
    USER,
    backlog,
    floor_to,
    fold_all,
    raw_groups,
    read_watermark,
)
from lockgate.store.schema import LAT_COLUMNS, ROLLUP_SUMS, TTFT_COLUMNS, requests, stats_rollup

__all__ = ["BUCKETS", "DIMENSIONS", "StatsQuery", "StatsResponse", "StatsRow", "query_stats"]

DIMENSIONS = ("model", "provider", "key", "user")  # and "property:<name>"
BUCKETS = {"minute": 60, "hour": HOUR, "day": DAY}
MAX_BUCKETS = 5000
FOLD_BEFORE_ANSWER = 20_000  # fold first when more rows than this wait (e.g. a CLI against an idle store)
_SUM = {name: i for i, name in enumerate(ROLLUP_SUMS)}
_RAW_DIM = {"model": MODEL, "provider": PROVIDER, "key": KEY, "user": USER}


class Tokens(msgspec.Struct):
    input: int
    output: int
    cached_input: int
    cache_write: int
    reasoning: int
    total: int


class Latency(msgspec.Struct):
    """Milliseconds. Percentiles are within `StatsResponse.percentile_error` (relative) of
    the exact nearest-rank value; null when no request in the group has a value."""

    count: int
    avg: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class StatsRow(msgspec.Struct):
    requests: int
    errors: int  # status >= 400
    error_rate: float
    streamed: int
    tokens: Tokens
    cost_usd: float  # the sum of known costs
    cost_unknown: int  # requests without a known cost
    latency_ms: Latency
    ttft_ms: Latency  # streamed requests with a first token
    group: str | None = None  # the group's value (null: requests without one); absent without group_by
    bucket: str | None = None  # start of the time bucket, ISO 8601 UTC; absent without bucket
    bucket_ts: int | None = None  # the same, epoch seconds


class StatsResponse(msgspec.Struct):
    start: float | None
    end: float | None
    group_by: str | None
    bucket: str | None
    rows: list[StatsRow]
    total: StatsRow  # everything the filters matched, over the whole range
    groups: int  # distinct groups before `limit`
    truncated: bool  # rows were cut to the `limit` largest groups
    percentile_error: float  # the relative error bound of every percentile
    rollup_rows: int  # rollup rows read (how the answer was made)
    raw_rows: int  # request rows read


@dataclass(frozen=True)
class StatsQuery:
    start: float | None = None  # epoch seconds, inclusive
    end: float | None = None  # exclusive
    group_by: str | None = None  # model | provider | key | user | property:<name>
    bucket: str | None = None  # minute | hour | day
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()  # (name, value); several values of one name: any of them
    limit: int = 100

    def __post_init__(self) -> None:
        if self.group_by is not None and self.group_by not in DIMENSIONS and not (
                self.group_by.startswith("property:") and len(self.group_by) > len("property:")):
            raise ValueError(f"group_by must be one of {', '.join(DIMENSIONS)} or property:<name>, "
                             f"got {self.group_by!r}")
        if self.bucket is not None and self.bucket not in BUCKETS:
            raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, got {self.bucket!r}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("`to` must be after `from`")
        if self.limit < 1:
            raise ValueError("limit must be at least 1")
        if self.bucket is not None:
            if self.start is None or self.end is None:
                if self.bucket == "minute":
                    raise ValueError("minute buckets need both `from` and `to`")
            elif (self.end - self.start) / BUCKETS[self.bucket] > MAX_BUCKETS:
                raise ValueError(f"more than {MAX_BUCKETS} {self.bucket} buckets; choose a coarser bucket "
                                 "or a shorter range")

    def dim_filters(self) -> dict[str, tuple[str, ...]]:
        filters = {"model": self.models, "provider": self.providers, "key": self.keys, "user": self.users}
        return {k: v for k, v in filters.items() if v}

    @property
    def group_property(self) -> str | None:
        return self.group_by.split(":", 1)[1] if self.group_by and self.group_by.startswith("property:") else None

    def property_filters(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for name, value in self.properties:
            out[name] = (*out.get(name, ()), value)
        return out

    def series(self) -> tuple[str, str] | None:
        """The rollup series (and property name) that can answer, or None for raw rows only."""
        if self.bucket == "minute":
            return None
        dims = set(self.dim_filters())
        if self.group_by in DIMENSIONS:
            dims.add(self.group_by)
        props = set(self.property_filters()) | ({self.group_property} if self.group_property else set())
        if props:
            if len(props) > 1 or not dims <= {"model", "provider"}:
                return None
            return ("propcore" if dims else "prop"), props.pop()
        if not dims:
            return "all", ""
        if dims <= {"model", "provider", "key"}:
            return "core", ""
        return ("user", "") if dims == {"user"} else None


def query_stats(engine: sa.Engine, q: StatsQuery) -> StatsResponse:
    """Answer `q` from one read snapshot; folds first if many rows wait to be folded."""
    if q.series() is not None:
        with engine.connect() as conn:
            waiting = backlog(conn)
        if waiting > FOLD_BEFORE_ANSWER:
            fold_all(engine)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            read = _Read()
            merged, groups, kept = _answer(conn, q, read)
            if q.group_by is None and q.bucket is None:
                total = merged.get((), Agg())
            else:
                total = _answer(conn, dataclasses.replace(q, group_by=None, bucket=None), read)[0].get((), Agg())
    return _response(q, merged, total, groups, kept, read)


@dataclasses.dataclass
class _Read:
    rollup_rows: int = 0
    raw_rows: int = 0


Merged = dict[tuple[Any, ...], Agg]


def _answer(conn: sa.Connection, q: StatsQuery, read: _Read) -> tuple[Merged, dict[str, int], set[str] | None]:
    """Aggregates by (bucket?, group?), the request count of every group, and the groups kept."""
    size = BUCKETS[q.bucket] if q.bucket else None
    series = q.series()
    ts = requests.c.ts
    # Raw pieces, each one an index range: the partial hours at both ends, and the rows the
    # rollup has not folded yet inside the whole hours.
    pieces: list[list[sa.ColumnElement[bool]]] = []
    spans: list[tuple[int, int | None, int | None]] = []
    h0, h1 = _ceil(q.start, HOUR), _floor(q.end, HOUR)
    if series is not None and (h0 is None or h1 is None or h0 < h1):
        assert q.start is None or h0 is not None
        if q.start is not None and h0 is not None and q.start < h0:
            pieces.append([ts >= q.start, ts < h0])
        if q.end is not None and h1 is not None and h1 < q.end:
            pieces.append([ts >= h1, ts < q.end])
        tail = [read_watermark(conn).unfolded()]
        # `ts + 0`: keeps the planner on the watermark's rowid range, not the whole ts index.
        if h0 is not None:
            tail.append(ts + 0 >= h0)
        if h1 is not None:
            tail.append(ts + 0 < h1)
        pieces.append(tail)
        spans = _rollup_spans(h0, h1, size)
    else:
        series = None
        whole = []
        if q.start is not None:
            whole.append(ts >= q.start)
        if q.end is not None:
            whole.append(ts < q.end)
        pieces.append(whole)
    raw: Merged = {}
    filters = _raw_filters(q)
    groups = _raw_groups(conn, q, size)
    for piece in pieces:
        for key, agg in raw_groups(conn, groups, sa.and_(*piece, *filters)).items():
            _merge(raw, key, agg)
    read.raw_rows += sum(a.n for a in raw.values())
    merged: Merged = {}
    counts: dict[str, int] = {}
    kept: set[str] | None = None
    if q.group_by is not None:
        # Two phases: request counts of every group (cheap columns), then everything for the
        # `limit` largest groups only.
        for key, agg in raw.items():
            g = key[-1] or ""
            counts[g] = counts.get(g, 0) + agg.n
        if series is not None:
            for grain, lo, hi in spans:
                for g, n in _rollup_counts(conn, q, series, grain, lo, hi, read):
                    counts[g or ""] = counts.get(g or "", 0) + int(n)
        ranked = sorted(counts, key=lambda g: (-counts[g], g))
        if len(ranked) > q.limit:
            kept = set(ranked[:q.limit])
    for key, agg in raw.items():
        if kept is None or (key[-1] or "") in kept:
            _merge(merged, _norm_key(key, size), agg)
    if series is not None:
        for grain, lo, hi in spans:
            _add_rollup(conn, q, series, grain, lo, hi, size, merged, kept, read)
    return merged, counts, kept


def _ceil(t: float | None, size: int) -> int | None:
    return None if t is None else math.ceil(t / size) * size


def _floor(t: float | None, size: int) -> int | None:
    return None if t is None else math.floor(t / size) * size


def _rollup_spans(h0: int | None, h1: int | None, size: int | None) -> list[tuple[int, int | None, int | None]]:
    """(grain, first bucket, end) spans covering [h0, h1): days where whole days fit, hours around them."""
    if size == HOUR:
        return [(HOUR, h0, h1)]
    d0, d1 = _ceil(h0, DAY), _floor(h1, DAY)
    if d0 is not None and d1 is not None and d0 >= d1:
        return [(HOUR, h0, h1)]
    spans: list[tuple[int, int | None, int | None]] = [(DAY, d0, d1)]
    if h0 is not None and d0 is not None and h0 < d0:
        spans.append((HOUR, h0, d0))
    if h1 is not None and d1 is not None and d1 < h1:
        spans.append((HOUR, d1, h1))
    return spans


_T = stats_rollup.c
_ROLLUP_DIM = {"model": _T.model, "provider": _T.provider, "key": _T.key_id, "user": _T.user_id}
_HIST_COLUMNS = (*LAT_COLUMNS, *TTFT_COLUMNS)
# Built once: a few hundred SUM() objects per statement cost SQLAlchemy more than SQLite's work.
_ROLLUP_TOTALS = tuple(sa.func.sum(_T[c]) for c in (*ROLLUP_SUMS, *_HIST_COLUMNS))


def _rollup_where(q: StatsQuery, series: tuple[str, str], grain: int, lo: int | None,
                  hi: int | None) -> list[sa.ColumnElement[bool]]:
    where = [_T.grain == grain, _T.series == series[0], _T.prop_name == series[1]]
    if lo is not None:
        where.append(_T.bucket >= lo)
    if hi is not None:
        where.append(_T.bucket < hi)
    for dim, values in q.dim_filters().items():
        where.append(_ROLLUP_DIM[dim].in_(values))
    for values in q.property_filters().values():
        where.append(_T.prop_value.in_(values))
    return where


def _group_col(q: StatsQuery) -> sa.ColumnElement[str]:
    assert q.group_by is not None
    return _T.prop_value if q.group_property else _ROLLUP_DIM[q.group_by]


def _rollup_counts(conn: sa.Connection, q: StatsQuery, series: tuple[str, str], grain: int, lo: int | None,
                   hi: int | None, read: _Read) -> list[tuple[str, int]]:
    g = _group_col(q)
    out = []
    for value, n, rows in conn.execute(sa.select(g, sa.func.sum(_T.n), sa.func.count())
                                       .where(*_rollup_where(q, series, grain, lo, hi)).group_by(g)):
        read.rollup_rows += rows
        out.append((value, n))
    return out


def _add_rollup(conn: sa.Connection, q: StatsQuery, series: tuple[str, str], grain: int, lo: int | None,
                hi: int | None, size: int | None, merged: Merged, kept: set[str] | None, read: _Read) -> None:
    where = _rollup_where(q, series, grain, lo, hi)
    groups: list[sa.ColumnElement[Any]] = []
    if size is not None:
        groups.append(_T.bucket - _T.bucket % size if size != grain else _T.bucket)
    if q.group_by is not None:
        groups.append(_group_col(q))
        if kept is not None:
            where.append(_group_col(q).in_(sorted(kept)))
    stmt = sa.select(*groups, sa.func.count(), *_ROLLUP_TOTALS).where(*where)
    if groups:
        stmt = stmt.group_by(*groups)
    k = len(groups)
    nlat = len(LAT_COLUMNS)
    counted = q.group_by is None  # else the first phase counted the rows read
    for row in conn.execute(stmt):
        if counted:
            read.rollup_rows += row[k]
        vals = row[k + 1:]
        if not vals[0]:
            continue
        agg = Agg(vals[:NSUMS])
        agg.add_packed(vals[NSUMS:NSUMS + nlat], vals[NSUMS + nlat:])
        _merge(merged, _norm_key(row[:k], size), agg)


def _raw_groups(conn: sa.Connection, q: StatsQuery, size: int | None) -> list[sa.ColumnElement[Any]]:
    groups: list[sa.ColumnElement[Any]] = []
    if size is not None:
        groups.append(floor_to(conn, requests.c.ts, size))
    if q.group_property is not None:
        groups.append(requests.c.properties[q.group_property].as_string())
    elif q.group_by is not None:
        groups.append(_RAW_DIM[q.group_by])
    return groups


def _raw_filters(q: StatsQuery) -> list[sa.ColumnElement[bool]]:
    c = requests.c
    # Plain columns where the index can serve them (values are never '': '' means none).
    columns: dict[str, sa.ColumnElement[Any]] = {"model": c.model_resolved, "provider": c.provider, "key": c.key_id,
                                                 "user": c.user_id}
    where: list[sa.ColumnElement[bool]] = [columns[dim].in_(values) for dim, values in q.dim_filters().items()]
    for name, values in q.property_filters().items():
        where.append(c.properties[name].as_string().in_(values))
    if q.group_property is not None:
        where.append(c.properties[q.group_property].as_string().is_not(None))
    return where


def _norm_key(key: Sequence[Any], size: int | None) -> tuple[Any, ...]:
    out = list(key)
    if size is not None:
        out[0] = int(out[0])
    if out and not (size is not None and len(out) == 1):
        out[-1] = out[-1] or ""
    return tuple(out)


def _merge(into: Merged, key: tuple[Any, ...], agg: Agg) -> None:
    cur = into.get(key)
    if cur is None:
        into[key] = agg
    else:
        cur.add(agg)


def _latency(count: Any, total: Any, bins: dict[int, int], p99: bool) -> Latency:
    c = int(count)
    counts = Agg.counts(bins)
    return Latency(count=c, avg=total / c if c else None, p50=histogram.percentile(counts, 0.5),
                   p95=histogram.percentile(counts, 0.95), p99=histogram.percentile(counts, 0.99) if p99 else None)


def _row(agg: Agg, group: str | None = None, bucket: int | None = None) -> StatsRow:
    s = {name: agg.sums[i] for name, i in _SUM.items()}
    n = int(s["n"])
    return StatsRow(
        requests=n, errors=int(s["errors"]), error_rate=s["errors"] / n if n else 0.0, streamed=int(s["streamed"]),
        tokens=Tokens(input=int(s["input_tokens"]), output=int(s["output_tokens"]),
                      cached_input=int(s["cached_input_tokens"]), cache_write=int(s["cache_write_tokens"]),
                      reasoning=int(s["reasoning_tokens"]), total=int(s["total_tokens"])),
        cost_usd=float(s["cost_usd"]), cost_unknown=n - int(s["cost_n"]),
        latency_ms=_latency(s["latency_n"], s["latency_sum"], agg.lat, True),
        ttft_ms=_latency(s["ttft_n"], s["ttft_sum"], agg.ttft, False),
        group=group or None, bucket=_iso(bucket) if bucket is not None else None, bucket_ts=bucket)


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def _response(q: StatsQuery, merged: Merged, total: Agg, counts: dict[str, int], kept: set[str] | None,
              read: _Read) -> StatsResponse:
    rows = []
    for key, agg in merged.items():
        bucket = int(key[0]) if q.bucket else None
        group = key[-1] if q.group_by is not None else None
        rows.append((bucket or 0, -counts.get(group or "", 0), group or "",
                     _row(agg, group, bucket)))
    rows.sort(key=lambda r: r[:3])
    return StatsResponse(start=q.start, end=q.end, group_by=q.group_by, bucket=q.bucket, rows=[r[3] for r in rows],
                         total=_row(total), groups=len(counts), truncated=kept is not None,
                         percentile_error=round(histogram.MAX_RELATIVE_ERROR, 4), rollup_rows=read.rollup_rows,
                         raw_rows=read.raw_rows)
