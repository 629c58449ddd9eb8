"""The stats rollup: per-hour and per-day aggregates of `requests`, folded in the background.

The log writer's insert is untouched. A watermark says how far the rollup has read:
the rowid on SQLite (rows get increasing rowids in commit order, so rows that arrive late
for their start time are still folded exactly once), the start time on PostgreSQL (rows
older than `PG_LAG` are folded; a row that reaches the table later than that after its
start is not counted by the rollup). `fold()` reads the rows past the watermark in one
write transaction of at most `max_rows` rows: three grouped SQL passes per series (sums,
latency bins, TTFT bins) run inside the database; Python only adds the grouped results
and upserts one row per (bucket, dimension values). Stats queries add the rows past the
watermark from `requests` itself in the same snapshot, so answers include the newest rows
however far behind the fold is.

Series: "user" (hour, model, provider, key, user) is folded from the rows; "core"
(hour, model, provider, key) is the sum of "user" over users; "prop" (hour, model,
provider, key, property name, value) comes from the rows joined with their properties.
Day rows are the sums of the hour rows of the same fold.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate.store import histogram
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
NSUMS = len(ROLLUP_SUMS)
WIDTH = NSUMS + 2 * histogram.BINS  # one unpacked vector: sums, latency bins, TTFT bins
_FLOAT_AT = frozenset(i for i, n in enumerate(ROLLUP_SUMS) if n in ("cost_usd", "latency_sum", "ttft_sum"))

r = requests.c
MODEL = sa.func.coalesce(r.model_resolved, r.model_requested, "")
PROVIDER = sa.func.coalesce(r.provider, "")
KEY = sa.func.coalesce(r.key_id, "")
USER = sa.func.coalesce(r.user_id, "")
ROWID = sa.literal_column("requests.rowid", sa.BigInteger)


@dataclass(frozen=True, slots=True)
class Watermark:
    """Rows past it are not in the rollup yet: rowid > value (SQLite) or ts > value (PostgreSQL)."""

    kind: str  # "rowid" | "ts"
    value: float

    def unfolded(self) -> sa.ColumnElement[bool]:
        return ROWID > int(self.value) if self.kind == "rowid" else r.ts > self.value

    def folded(self) -> sa.ColumnElement[bool]:
        return ROWID <= int(self.value) if self.kind == "rowid" else r.ts <= self.value


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


def _sums() -> list[sa.ColumnElement[Any]]:
    """The ROLLUP_SUMS of a group of `requests` rows, in order."""
    def total(col: sa.ColumnElement[Any], zero: Any = 0) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(col), zero)

    return [sa.func.count(), total(sa.case((r.status >= 400, 1), else_=0)), total(sa.case((r.stream, 1), else_=0)),
            total(r.input_tokens), total(r.output_tokens), total(r.cached_input_tokens), total(r.cache_write_tokens),
            total(r.reasoning_tokens), total(r.total_tokens), total(r.cost_usd, 0.0), sa.func.count(r.cost_usd),
            sa.func.count(r.latency_ms), total(r.latency_ms, 0.0), sa.func.count(r.ttft_ms), total(r.ttft_ms, 0.0)]


def raw_groups(conn: sa.Connection, groups: Sequence[sa.ColumnElement[Any]], where: sa.ColumnElement[bool],
               froms: Sequence[Any] = (requests,)) -> dict[tuple[Any, ...], list[float]]:
    """Aggregate `requests` rows (joined with `froms`) by `groups`: key → unpacked vector.

    Three grouped passes, all inside the database: sums, latency bins, TTFT bins.
    """
    out: dict[tuple[Any, ...], list[float]] = {}
    q = sa.select(*groups, *_sums()).select_from(*froms).where(where)
    if groups:
        q = q.group_by(*groups)
    k = len(groups)
    for row in conn.execute(q):
        if row[k]:
            vec = [0.0] * WIDTH
            vec[:NSUMS] = row[k:]
            out[tuple(row[:k])] = vec
    for offset, col in ((NSUMS, r.latency_ms), (NSUMS + histogram.BINS, r.ttft_ms)):
        b = histogram.bin_sql(col).label("bin")
        q = sa.select(*groups, b, sa.func.count()).select_from(*froms).where(where, col.is_not(None))
        q = q.group_by(*groups, b)
        for row in conn.execute(q):
            vec = out.get(tuple(row[:k]))
            if vec is not None:
                vec[offset + row[k]] += row[k + 1]
    return out


def _property_source(conn: sa.Connection) -> tuple[Any, sa.ColumnElement[str], sa.ColumnElement[str]]:
    fn = sa.func.json_each if conn.dialect.name == "sqlite" else sa.func.json_each_text
    each = fn(r.properties).table_valued("key", "value").alias("prop")
    return each, sa.cast(each.c.key, sa.String), sa.func.coalesce(sa.cast(each.c.value, sa.String), "")


def _add(into: dict[tuple[Any, ...], list[float]], key: tuple[Any, ...], vec: Sequence[float]) -> None:
    cur = into.get(key)
    if cur is None:
        into[key] = list(vec)
    else:
        for i, v in enumerate(vec):
            if v:
                cur[i] += v


def deltas(conn: sa.Connection, where: sa.ColumnElement[bool]) -> dict[tuple[Any, ...], list[float]]:
    """The rollup rows (key in ROLLUP_KEY order → unpacked vector) that `where`'s rows add."""
    hour = floor_to(conn, r.ts, HOUR)
    out: dict[tuple[Any, ...], list[float]] = {}
    for (h, model, provider, key, user), vec in raw_groups(conn, (hour, MODEL, PROVIDER, KEY, USER), where).items():
        _add(out, (HOUR, "user", "", int(h), model, provider, key, user, ""), vec)
        _add(out, (HOUR, "core", "", int(h), model, provider, key, "", ""), vec)
    each, name, value = _property_source(conn)
    for (h, model, provider, key, pname, pvalue), vec in raw_groups(
            conn, (hour, MODEL, PROVIDER, KEY, name, value), where, (requests.join(each, sa.true()),)).items():
        _add(out, (HOUR, "prop", pname, int(h), model, provider, key, "", pvalue), vec)
    for k, vec in list(out.items()):
        _add(out, (DAY, k[1], k[2], k[3] // DAY * DAY, *k[4:]), vec)
    return out


def _upsert(conn: sa.Connection, rows: dict[tuple[Any, ...], list[float]]) -> None:
    if not rows:
        return
    cols = [*ROLLUP_KEY, *ROLLUP_SUMS, *LAT_COLUMNS, *TTFT_COLUMNS]
    values = []
    bins = histogram.BINS
    for key, vec in rows.items():
        sums = [v if i in _FLOAT_AT else int(v) for i, v in enumerate(vec[:NSUMS])]
        lat = histogram.pack([int(v) for v in vec[NSUMS:NSUMS + bins]])
        ttft = histogram.pack([int(v) for v in vec[NSUMS + bins:]])
        values.append((*key, *sums, *lat, *ttft))
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
        top = float(conn.execute(sa.select(sa.func.max(ROWID)).select_from(requests)).scalar() or 0)
        hi = min(top, wm.value + max_rows)
        if hi <= wm.value:
            return None, wm.value, False
        return sa.and_(ROWID > int(wm.value), ROWID <= int(hi)), hi, hi < top
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
    return int(sum(vec[0] for key, vec in rows.items() if key[0] == HOUR and key[1] == "user")), more


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
        return max(0, int(conn.execute(sa.select(sa.func.max(ROWID)).select_from(requests)).scalar() or 0) - int(wm.value))
    return int(conn.execute(sa.select(sa.func.count()).select_from(requests).where(wm.unfolded())).scalar() or 0)
