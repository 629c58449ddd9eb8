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

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa

from lockgate.store import histogram
from lockgate.store.rollup import (
    DAY,
    HOUR,
    KEY,
    MODEL,
    NSUMS,
    PROVIDER,
    USER,
    WIDTH,
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
_ROLLUP_DIM = {"model": stats_rollup.c.model, "provider": stats_rollup.c.provider, "key": stats_rollup.c.key_id,
               "user": stats_rollup.c.user_id}
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
            raise ValueError("end must be after start")
        if self.limit < 1:
            raise ValueError("limit must be at least 1")
        if self.bucket is not None:
            if self.start is None or self.end is None:
                if self.bucket == "minute":
                    raise ValueError("minute buckets need both start and end")
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
        props = set(self.property_filters()) | ({self.group_property} if self.group_property else set())
        wants_user = self.group_by == "user" or bool(self.users)
        if len(props) > 1 or (props and wants_user):
            return None
        if props:
            return "prop", props.pop()
        return ("user", "") if wants_user else ("core", "")


def query_stats(engine: sa.Engine, q: StatsQuery) -> StatsResponse:
    """Answer `q` from one read snapshot; folds first if many rows wait to be folded."""
    series = q.series()
    if series is not None:
        with engine.connect() as conn:
            waiting = backlog(conn)
        if waiting > FOLD_BEFORE_ANSWER:
            fold_all(engine)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return _answer(conn, q, series)


def _answer(conn: sa.Connection, q: StatsQuery, series: tuple[str, str] | None) -> StatsResponse:
    size = BUCKETS[q.bucket] if q.bucket else None
    merged: dict[tuple[Any, ...], list[float]] = {}
    rollup_rows = 0
    raw_where: list[sa.ColumnElement[bool]] = []
    if q.start is not None:
        raw_where.append(requests.c.ts >= q.start)
    if q.end is not None:
        raw_where.append(requests.c.ts < q.end)
    if series is not None:
        h0 = _ceil(q.start, HOUR)
        h1 = _floor(q.end, HOUR)
        if h0 is not None and h1 is not None and h0 >= h1:
            series = None  # shorter than an hour boundary to the next: raw rows only
    if series is not None:
        wm = read_watermark(conn)
        # Rows the rollup covers: folded, and inside whole hours of the range.
        covered = [wm.folded()]
        if h0 is not None:
            covered.append(requests.c.ts >= h0)
        if h1 is not None:
            covered.append(requests.c.ts < h1)
        raw_where.append(sa.not_(sa.and_(*covered)))
        for grain, lo, hi in _rollup_spans(h0, h1, size):
            rollup_rows += _add_rollup(conn, q, series, grain, lo, hi, size, merged)
    raw = raw_groups(conn, _raw_groups(conn, q, size), sa.and_(*raw_where, *_raw_filters(q)))
    raw_rows = 0
    for key, vec in raw.items():
        raw_rows += int(vec[0])
        _merge(merged, key, vec)
    return _response(q, merged, rollup_rows, raw_rows)


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


def _add_rollup(conn: sa.Connection, q: StatsQuery, series: tuple[str, str], grain: int, lo: int | None,
                hi: int | None, size: int | None, merged: dict[tuple[Any, ...], list[float]]) -> int:
    t = stats_rollup.c
    where = [t.grain == grain, t.series == series[0], t.prop_name == series[1]]
    if lo is not None:
        where.append(t.bucket >= lo)
    if hi is not None:
        where.append(t.bucket < hi)
    for dim, values in q.dim_filters().items():
        where.append(_ROLLUP_DIM[dim].in_(values))
    for name, values in q.property_filters().items():
        assert name == series[1]
        where.append(t.prop_value.in_(values))
    groups: list[sa.ColumnElement[Any]] = []
    if size is not None:
        groups.append(t.bucket - t.bucket % size if size != grain else t.bucket)
    if q.group_by is not None:
        groups.append(t.prop_value if q.group_property else _ROLLUP_DIM[q.group_by])
    sums = [sa.func.sum(t[c]) for c in (*ROLLUP_SUMS, *LAT_COLUMNS, *TTFT_COLUMNS)]
    stmt = sa.select(*groups, sa.func.count(), *sums).where(*where)
    if groups:
        stmt = stmt.group_by(*groups)
    k = len(groups)
    read = 0
    nlat = len(LAT_COLUMNS)
    for row in conn.execute(stmt):
        read += row[k]
        vals = row[k + 1:]
        if not vals[0]:
            continue
        vec = [float(v or 0) for v in vals[:NSUMS]]
        vec += histogram.unpack(vals[NSUMS:NSUMS + nlat]) + histogram.unpack(vals[NSUMS + nlat:])
        _merge(merged, _norm_key(row[:k], size), vec)
    return int(read)


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
    where = [_RAW_DIM[dim].in_(values) for dim, values in q.dim_filters().items()]
    props = requests.c.properties
    for name, values in q.property_filters().items():
        where.append(props[name].as_string().in_(values))
    if q.group_property is not None:
        where.append(props[q.group_property].as_string().is_not(None))
    return where


def _norm_key(key: Sequence[Any], size: int | None) -> tuple[Any, ...]:
    out = list(key)
    if size is not None:
        out[0] = int(out[0])
    return tuple(out)


def _merge(into: dict[tuple[Any, ...], list[float]], key: Sequence[Any], vec: Sequence[float]) -> None:
    k = _norm_key(key, None)
    cur = into.get(k)
    if cur is None:
        into[k] = list(vec)
    else:
        for i, v in enumerate(vec):
            if v:
                cur[i] += v


def _row(vec: Sequence[float], group: str | None = None, bucket: int | None = None) -> StatsRow:
    s = {name: vec[i] for name, i in _SUM.items()}
    n = int(s["n"])
    lat = [int(v) for v in vec[NSUMS:NSUMS + histogram.BINS]]
    ttft = [int(v) for v in vec[NSUMS + histogram.BINS:]]

    def latency(count: float, total: float, bins: list[int], p99: bool) -> Latency:
        c = int(count)
        return Latency(count=c, avg=total / c if c else None, p50=histogram.percentile(bins, 0.5),
                       p95=histogram.percentile(bins, 0.95), p99=histogram.percentile(bins, 0.99) if p99 else None)

    return StatsRow(
        requests=n, errors=int(s["errors"]), error_rate=s["errors"] / n if n else 0.0, streamed=int(s["streamed"]),
        tokens=Tokens(input=int(s["input_tokens"]), output=int(s["output_tokens"]),
                      cached_input=int(s["cached_input_tokens"]), cache_write=int(s["cache_write_tokens"]),
                      reasoning=int(s["reasoning_tokens"]), total=int(s["total_tokens"])),
        cost_usd=s["cost_usd"], cost_unknown=n - int(s["cost_n"]),
        latency_ms=latency(s["latency_n"], s["latency_sum"], lat, True),
        ttft_ms=latency(s["ttft_n"], s["ttft_sum"], ttft, False),
        group=group or None, bucket=_iso(bucket) if bucket is not None else None, bucket_ts=bucket)


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def _response(q: StatsQuery, merged: dict[tuple[Any, ...], list[float]], rollup_rows: int,
              raw_rows: int) -> StatsResponse:
    total = [0.0] * WIDTH
    per_group: dict[Any, float] = {}
    grouped = q.group_by is not None
    for key, vec in merged.items():
        for i, v in enumerate(vec):
            if v:
                total[i] += v
        if grouped:
            per_group[key[-1] or ""] = per_group.get(key[-1] or "", 0.0) + vec[0]
    keep = set(sorted(per_group, key=lambda g: (-per_group[g], g))[:q.limit])
    rows = []
    for key, vec in merged.items():
        bucket = int(key[0]) if q.bucket else None
        group = (key[-1] or "") if grouped else None
        if grouped and group not in keep:
            continue
        rows.append((bucket or 0, -per_group.get(group, 0.0), group or "", _row(vec, group, bucket)))
    rows.sort(key=lambda r: r[:3])
    return StatsResponse(start=q.start, end=q.end, group_by=q.group_by, bucket=q.bucket, rows=[r[3] for r in rows],
                         total=_row(total), groups=len(per_group), truncated=len(per_group) > len(keep),
                         percentile_error=round(histogram.MAX_RELATIVE_ERROR, 4), rollup_rows=rollup_rows,
                         raw_rows=raw_rows)
