"""The stats rollup: per-hour and per-day aggregates of `requests`, folded in the background.

The log writer's insert is untouched. A watermark says how far the rollup has read:
the rowid on SQLite (rows get increasing rowids in commit order, so rows that arrive late
for their start time are still folded exactly once), the start time on PostgreSQL (rows
older than `PG_LAG` are folded; a row that reaches the table later than that after its
start is not counted by the rollup). `fold()` aggregates the rows past the watermark in a
read snapshot with three grouped SQL passes per series (sums, latency bins, TTFT bins)
inside the database, then upserts one row per (bucket, series, dimension values) in a
short write transaction. Stats queries add the rows past the watermark from `requests`
itself in the same snapshot, so answers include the newest rows however far behind the
fold is.

Series, each per hour and per day: "all" (no dimension), "core" (model, provider, key),
"user" (user), "prop" (one property's name and value), "propcore" (prop × model and
provider). Users,
a dimension with thousands of values, are never crossed with another, so the rollup stays
far smaller than the log.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.store import histogram
from lockgate.store.aggregate import Agg
from lockgate.store.db import begin_write
from lockgate.store.schema import (
    LAT_COLUMNS,
    ROLLUP_KEY,
    ROLLUP_SUMS,
    TTFT_COLUMNS,
    requests,
    stats_rollup,
    stats_state,
)

__all__ = ["DAY", "GRAINS", "HOUR", "Watermark", "backlog", "deltas", "floor_to", "fold", "fold_all", "raw_groups",
           "read_watermark"]

HOUR = 3600
DAY = 86400
GRAINS = (HOUR, DAY)
FOLD_ROWS = 50_000
PG_LAG = 900.0  # seconds a row may take from its start to the table and still be folded (PostgreSQL)

r = requests.c
MODEL = sa.func.coalesce(r.model_resolved, "")  # the model the request was routed to
PROVIDER = sa.func.coalesce(r.provider, "")
KEY = sa.func.coalesce(r.key_id, "")
USER = sa.func.coalesce(r.user_id, "")
ROWID = sa.literal_column("requests.rowid", sa.BigInteger)
MAX_ROWID = sa.select(sa.func.max(ROWID)).select_from(requests)


@dataclass(frozen=True, slots=True)
class Watermark:
    """Rows past it are not in the rollup yet: rowid > value (SQLite) or ts > value (PostgreSQL)."""

    kind: str  # "rowid" | "ts"
    value: float

    def unfolded(self) -> sa.ColumnElement[bool]:
        return int(self.value) < ROWID if self.kind == "rowid" else r.ts > self.value

    def folded(self) -> sa.ColumnElement[bool]:
        return int(self.value) >= ROWID if self.kind == "rowid" else r.ts <= self.value


def _kind(conn: sa.Connection) -> str:
    return "rowid" if conn.dialect.name == "sqlite" else "ts"


def read_watermark(conn: sa.Connection) -> Watermark:
    kind = _kind(conn)
    value = conn.execute(sa.select(stats_state.c.value).where(stats_state.c.name == f"rollup_{kind}")).scalar()
    return Watermark(kind, float(value or 0.0))


def floor_to(conn: sa.Connection, ts: sa.ColumnElement[float], seconds: int) -> sa.ColumnElement[int]:
    """The start of the `seconds`-long bucket holding `ts`, as an integer (epochs are positive)."""
    if conn.dialect.name == "sqlite":
        return sa.cast(ts / seconds, sa.Integer) * seconds  # CAST truncates on SQLite
    return sa.cast(sa.func.floor(ts / seconds), sa.BigInteger) * seconds  # and rounds on PostgreSQL


@dataclass(frozen=True)
class _Source:
    """Where the per-request values of an aggregation come from."""

    err: sa.ColumnElement[int]
    stream: sa.ColumnElement[int]
    tokens: tuple[sa.ColumnElement[int], ...]
    cost: sa.ColumnElement[float]
    latency: sa.ColumnElement[float]
    ttft: sa.ColumnElement[float]
    lat_bin: sa.ColumnElement[int]
    ttft_bin: sa.ColumnElement[int]
    sums: tuple[sa.ColumnElement[Any], ...] = ()  # ROLLUP_SUMS of a group, in order (built once)

    def __post_init__(self) -> None:
        def total(col: sa.ColumnElement[Any], zero: Any = 0) -> sa.ColumnElement[Any]:
            return sa.func.coalesce(sa.func.sum(col), zero)

        object.__setattr__(self, "sums", (
            sa.func.count(), total(self.err), total(self.stream), *(total(t) for t in self.tokens),
            total(self.cost, 0.0), sa.func.count(self.cost), sa.func.count(self.latency), total(self.latency, 0.0),
            sa.func.count(self.ttft), total(self.ttft, 0.0)))


_TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens",
           "total_tokens")
RAW = _Source(err=sa.case((r.status >= 400, 1), else_=0), stream=sa.case((r.stream, 1), else_=0),
              tokens=tuple(r[t] for t in _TOKENS), cost=r.cost_usd, latency=r.latency_ms, ttft=r.ttft_ms,
              lat_bin=histogram.bin_sql("requests.latency_ms"), ttft_bin=histogram.bin_sql("requests.ttft_ms"))

# The rows of one fold, copied once with their bins computed: every grouped pass then reads
# this narrow table instead of recomputing the bins from `requests`.
_chunk_meta = sa.MetaData()
chunk = sa.Table(
    "stats_chunk", _chunk_meta,
    sa.Column("hour", sa.BigInteger), sa.Column("model", sa.String), sa.Column("provider", sa.String),
    sa.Column("key_id", sa.String), sa.Column("user_id", sa.String), sa.Column("properties", sa.JSON),
    sa.Column("err", sa.Integer), sa.Column("stream", sa.Integer), *(sa.Column(t, sa.BigInteger) for t in _TOKENS),
    sa.Column("cost_usd", sa.Float), sa.Column("latency_ms", sa.Float), sa.Column("ttft_ms", sa.Float),
    sa.Column("lb", sa.Integer), sa.Column("tb", sa.Integer),
    prefixes=["TEMPORARY"],
)
_c = chunk.c
CHUNK = _Source(err=_c.err, stream=_c.stream, tokens=tuple(_c[t] for t in _TOKENS), cost=_c.cost_usd,
                latency=_c.latency_ms, ttft=_c.ttft_ms, lat_bin=_c.lb, ttft_bin=_c.tb)
# The same rows once per property (parsing the JSON once, not once per pass).
chunk_props = sa.Table(
    "stats_chunk_props", _chunk_meta,
    sa.Column("hour", sa.BigInteger), sa.Column("name", sa.String), sa.Column("value", sa.String),
    *(sa.Column(c.name, c.type) for c in chunk.columns if c.name not in ("hour", "user_id", "properties")),
    prefixes=["TEMPORARY"],
)
_p = chunk_props.c
PROPS = _Source(err=_p.err, stream=_p.stream, tokens=tuple(_p[t] for t in _TOKENS), cost=_p.cost_usd,
                latency=_p.latency_ms, ttft=_p.ttft_ms, lat_bin=_p.lb, ttft_bin=_p.tb)


def raw_groups(conn: sa.Connection, groups: Sequence[sa.ColumnElement[Any]], where: sa.ColumnElement[bool] | None,
               froms: Sequence[Any] = (requests,), src: _Source = RAW) -> dict[tuple[Any, ...], Agg]:
    """Aggregate rows (of `requests`, or of the fold's chunk with `src=CHUNK`) by `groups`.

    Three grouped passes, all inside the database: sums, latency bins, TTFT bins.
    """
    out: dict[tuple[Any, ...], Agg] = {}
    conds = [where] if where is not None else []
    q = sa.select(*groups, *src.sums).select_from(*froms).where(*conds)
    if groups:
        q = q.group_by(*groups)
    k = len(groups)
    for row in conn.execute(q):
        if row[k]:
            out[tuple(row[:k])] = Agg(row[k:])
    for attr, value, b in (("lat", src.latency, src.lat_bin), ("ttft", src.ttft, src.ttft_bin)):
        q = (sa.select(*groups, b.label("bin"), sa.func.count()).select_from(*froms)
             .where(*conds, value.is_not(None)).group_by(*groups, sa.literal_column("bin")))
        for row in conn.execute(q):
            agg = out.get(tuple(row[:k]))
            if agg is not None:
                getattr(agg, attr)[row[k]] = row[k + 1]
    return out


def _property_source(conn: sa.Connection, props: sa.ColumnElement[Any]) -> tuple[
        Any, sa.ColumnElement[str], sa.ColumnElement[str]]:
    fn = sa.func.json_each if conn.dialect.name == "sqlite" else sa.func.json_each_text
    each = fn(props).table_valued("key", "value").alias("prop")
    return each, sa.cast(each.c.key, sa.String), sa.func.coalesce(sa.cast(each.c.value, sa.String), "")


def _add(into: dict[tuple[Any, ...], Agg], key: tuple[Any, ...], agg: Agg) -> None:
    cur = into.get(key)
    if cur is None:
        into[key] = agg.copy()
    else:
        cur.add(agg)


def deltas(conn: sa.Connection, where: sa.ColumnElement[bool]) -> dict[tuple[Any, ...], Agg]:
    """The rollup rows (key in ROLLUP_KEY order) that `where`'s rows add."""
    for t in (chunk, chunk_props):
        t.create(conn, checkfirst=True)
        conn.execute(t.delete())
    conn.execute(chunk.insert().from_select(
        [c.name for c in chunk.columns],
        sa.select(floor_to(conn, r.ts, HOUR), MODEL, PROVIDER, KEY, USER, r.properties, RAW.err, RAW.stream,
                  *RAW.tokens, r.cost_usd, r.latency_ms, r.ttft_ms, RAW.lat_bin, RAW.ttft_bin).where(where)))
    out: dict[tuple[Any, ...], Agg] = {}
    for (h, model, provider, key), agg in raw_groups(conn, (_c.hour, _c.model, _c.provider, _c.key_id), None,
                                                     (chunk,), CHUNK).items():
        _add(out, (HOUR, "core", "", int(h), model, provider, key, "", ""), agg)
        _add(out, (HOUR, "all", "", int(h), "", "", "", "", ""), agg)
    for (h, user), agg in raw_groups(conn, (_c.hour, _c.user_id), None, (chunk,), CHUNK).items():
        out[(HOUR, "user", "", int(h), "", "", "", user, "")] = agg
    each, name, value = _property_source(conn, _c.properties)
    copied = [c for c in chunk_props.columns if c.name not in ("hour", "name", "value")]
    conn.execute(chunk_props.insert().from_select(
        [c.name for c in chunk_props.columns],
        sa.select(_c.hour, name, value, *(_c[c.name] for c in copied)).select_from(chunk.join(each, sa.true()))))
    for (h, pname, pvalue, model, provider), agg in raw_groups(
            conn, (_p.hour, _p.name, _p.value, _p.model, _p.provider), None, (chunk_props,), PROPS).items():
        _add(out, (HOUR, "propcore", pname, int(h), model, provider, "", "", pvalue), agg)
        _add(out, (HOUR, "prop", pname, int(h), "", "", "", "", pvalue), agg)
    conn.execute(chunk.delete())
    conn.execute(chunk_props.delete())
    for k, agg in list(out.items()):
        _add(out, (DAY, k[1], k[2], k[3] // DAY * DAY, *k[4:]), agg)
    return out


def _upsert(conn: sa.Connection, rows: dict[tuple[Any, ...], Agg]) -> None:
    if not rows:
        return
    cols = [*ROLLUP_KEY, *ROLLUP_SUMS, *LAT_COLUMNS, *TTFT_COLUMNS]
    values = [(*key, *agg.row_values()) for key, agg in rows.items()]
    added = cols[len(ROLLUP_KEY):]
    if conn.dialect.name == "sqlite":
        # Plain tuples into the driver: SQLAlchemy's per-row processing of ~200 parameters
        # would cost more than the upsert itself.
        sql = (f"INSERT INTO stats_rollup ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET "
               + ", ".join(f"{c} = stats_rollup.{c} + excluded.{c}" for c in added))
        conn.exec_driver_sql(sql, values)
        return
    from sqlalchemy.dialects import postgresql  # loaded only where PostgreSQL is used

    ins = postgresql.insert(stats_rollup)
    stmt = ins.on_conflict_do_update(index_elements=list(ROLLUP_KEY),
                                     set_={c: stats_rollup.c[c] + ins.excluded[c] for c in added})
    conn.execute(stmt, [dict(zip(cols, v, strict=True)) for v in values])


def _set_state(conn: sa.Connection, name: str, value: float) -> None:
    updated = conn.execute(sa.update(stats_state).where(stats_state.c.name == name).values(value=value))
    if not updated.rowcount:
        conn.execute(sa.insert(stats_state).values(name=name, value=value))


def _window(conn: sa.Connection, wm: Watermark, max_rows: int) -> tuple[sa.ColumnElement[bool] | None, float, bool]:
    """The rows of the next fold: (where, new watermark, more waiting after them)."""
    if wm.kind == "rowid":
        top = float(conn.execute(MAX_ROWID).scalar() or 0)
        hi = min(top, wm.value + max_rows)
        if hi <= wm.value:
            return None, wm.value, False
        return sa.and_(int(wm.value) < ROWID, int(hi) >= ROWID), hi, hi < top
    start = wm.value
    if not start:
        first = conn.execute(sa.select(sa.func.min(r.ts))).scalar()
        if first is None:
            return None, wm.value, False
        start = float(first) - 1.0
    top = time.time() - PG_LAG
    hi = min(top, start + HOUR)
    if hi <= start:
        return None, wm.value, False
    return sa.and_(r.ts > start, r.ts <= hi), hi, hi < top


def fold(engine: sa.Engine, max_rows: int = FOLD_ROWS) -> tuple[int, bool]:
    """Fold the next rows past the watermark (at most `max_rows` on SQLite, an hour of start
    times on PostgreSQL) into the rollup. Returns how many rows were folded and whether
    more are waiting.

    The rows are aggregated in a read snapshot; only the upsert and the new watermark take
    the write lock (and nothing is written if another process folded the same rows meanwhile).
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            wm = read_watermark(conn)
            where, hi, more = _window(conn, wm, max_rows)
            if where is None:
                return 0, False
            rows = deltas(conn, where)
    with begin_write(engine) as conn:
        if read_watermark(conn) != wm:
            return 0, True
        _upsert(conn, rows)
        _set_state(conn, f"rollup_{wm.kind}", hi)
    return sum(agg.n for key, agg in rows.items() if key[0] == HOUR and key[1] == "all"), more


def fold_all(engine: sa.Engine, max_rows: int = FOLD_ROWS, pause: float = 0.0) -> int:
    """Fold until caught up; `pause` seconds between transactions let the log writer in."""
    total = 0
    while True:
        n, more = fold(engine, max_rows)
        total += n
        if not more:
            return total
        if pause:
            time.sleep(pause)


def backlog(conn: sa.Connection, wm: Watermark | None = None) -> int:
    """Rows not folded yet (on SQLite an upper bound: a rowid difference, read in O(1))."""
    wm = wm or read_watermark(conn)
    if wm.kind == "rowid":
        return max(0, int(conn.execute(MAX_ROWID).scalar() or 0) - int(wm.value))
    return int(conn.execute(sa.select(sa.func.count()).select_from(requests).where(wm.unfolded())).scalar() or 0)
