"""Retention: drop request bodies after N days and whole rows after M days, a small batch at a time.

Each batch is chosen in a read snapshot (which never blocks the log writer in WAL mode)
and deleted in its own short write transaction, with a pause between batches, so the
writer and readers wait at most one batch. Rows go only once the stats rollup has folded
them (stats keep counting them) and never the newest row by rowid (SQLite would hand its
rowid out again, behind the rollup's watermark). A row takes its bodies, feedback and
scores with it; feedback and scores whose request never arrived go after the same M days.
Bodies are dropped by clearing the two body columns: the annotation headers stay with the row.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from lockgate.store.db import begin_write
from lockgate.store.rollup import MAX_ROWID, ROWID, read_watermark
from lockgate.store.schema import request_bodies, request_feedback, request_scores, requests, stats_state

__all__ = ["Retention", "RetentionPass"]

log = logging.getLogger("lockgate.retention")
_BODY_CURSOR = "retention_bodies_ts"
_LOOKBACK = 3600.0  # rows that arrive late (a replayed spool) still lose their bodies on the next pass


@dataclass
class RetentionPass:
    bodies_cleared: int = 0
    rows_deleted: int = 0
    orphans_deleted: int = 0  # feedback and scores of requests that never arrived
    batches: int = 0
    longest_lock_s: float = 0.0  # the longest write transaction of the pass
    lock_s: list[float] = field(default_factory=list, repr=False)


class Retention:
    def __init__(self, engine: sa.Engine, *, bodies_after_days: float = 0.0, rows_after_days: float = 0.0,
                 batch_rows: int = 500, pause: float = 0.05) -> None:
        """0 days: keep forever."""
        self._engine = engine
        self.bodies_after = bodies_after_days * 86400.0
        self.rows_after = rows_after_days * 86400.0
        self.batch = batch_rows
        self.pause = pause

    @property
    def enabled(self) -> bool:
        return bool(self.bodies_after or self.rows_after)

    def run(self, now: float | None = None, stop: threading.Event | None = None) -> RetentionPass:
        """One pass: old rows first (they take their bodies along), then old bodies."""
        now = time.time() if now is None else now
        done = RetentionPass()
        if self.rows_after:
            self._rows(now - self.rows_after, done, stop)
        if self.bodies_after:
            self._bodies(now - self.bodies_after, done, stop)
        return done

    def _write(self, done: RetentionPass) -> _Timed:
        return _Timed(self._engine, done)

    def _sleep(self, stop: threading.Event | None) -> bool:
        """Pause between batches; False when asked to stop."""
        if stop is not None:
            return not stop.wait(self.pause)
        if self.pause:
            time.sleep(self.pause)
        return True

    def _rows(self, cutoff: float, done: RetentionPass, stop: threading.Event | None) -> None:
        while True:
            with self._engine.connect() as conn, conn.begin():
                wm = read_watermark(conn)
                q = sa.select(requests.c.id).where(requests.c.ts < cutoff, wm.folded())
                if conn.dialect.name == "sqlite":
                    q = q.where(MAX_ROWID.scalar_subquery() > ROWID)
                ids = list(conn.execute(q.order_by(requests.c.ts).limit(self.batch)).scalars())
            if not ids:
                break
            with self._write(done) as conn:
                for table in (request_feedback, request_scores, request_bodies):
                    conn.execute(sa.delete(table).where(table.c.request_id.in_(ids)))
                done.rows_deleted += conn.execute(sa.delete(requests).where(requests.c.id.in_(ids))).rowcount
            if len(ids) < self.batch or not self._sleep(stop):
                break
        for table in (request_feedback, request_scores):
            while True:
                with self._engine.connect() as conn:
                    orphans = list(conn.execute(
                        sa.select(table.c.request_id).where(
                            table.c.created_at < cutoff,
                            ~sa.exists().where(requests.c.id == table.c.request_id))
                        .limit(self.batch)).scalars())
                if not orphans:
                    break
                with self._write(done) as conn:
                    done.orphans_deleted += conn.execute(
                        sa.delete(table).where(table.c.request_id.in_(orphans), table.c.created_at < cutoff)).rowcount
                if len(orphans) < self.batch or not self._sleep(stop):
                    break

    def _bodies(self, cutoff: float, done: RetentionPass, stop: threading.Event | None) -> None:
        with self._engine.connect() as conn:
            saved = conn.execute(sa.select(stats_state.c.value).where(stats_state.c.name == _BODY_CURSOR)).scalar()
        cursor: tuple[float, str] = (float(saved) - _LOOKBACK if saved else 0.0, "")
        while True:
            # Walk the old rows in (ts, id) order from the cursor; only rows with bodies are written.
            with self._engine.connect() as conn:
                rows = conn.execute(
                    sa.select(requests.c.ts, requests.c.id, requests.c.has_bodies)
                    .where(requests.c.ts < cutoff, sa.tuple_(requests.c.ts, requests.c.id) > sa.tuple_(*cursor))
                    .order_by(requests.c.ts, requests.c.id).limit(self.batch)).all()
            if not rows:
                break
            cursor = (float(rows[-1][0]), str(rows[-1][1]))
            ids = [row[1] for row in rows if row[2]]
            with self._write(done) as conn:
                if ids:
                    conn.execute(sa.update(request_bodies).where(request_bodies.c.request_id.in_(ids))
                                 .values(request_body=None, response_body=None))
                    done.bodies_cleared += conn.execute(
                        sa.update(requests).where(requests.c.id.in_(ids)).values(has_bodies=False)).rowcount
                _save_cursor(conn, cursor[0])
            if len(rows) < self.batch or not self._sleep(stop):
                break


def _save_cursor(conn: sa.Connection, ts: float) -> None:
    if not conn.execute(sa.update(stats_state).where(stats_state.c.name == _BODY_CURSOR).values(value=ts)).rowcount:
        conn.execute(sa.insert(stats_state).values(name=_BODY_CURSOR, value=ts))


class _Timed:
    """A write transaction whose lock hold (BEGIN to COMMIT) is added to the pass."""

    def __init__(self, engine: sa.Engine, done: RetentionPass) -> None:
        self._cm = begin_write(engine)
        self._done = done
        self._t0 = 0.0

    def __enter__(self) -> sa.Connection:
        conn = self._cm.__enter__()
        self._t0 = time.perf_counter()
        return conn

    def __exit__(self, *exc: object) -> None:
        try:
            self._cm.__exit__(*exc)  # type: ignore[arg-type]
        finally:
            held = time.perf_counter() - self._t0
            self._done.batches += 1
            self._done.lock_s.append(held)
            self._done.longest_lock_s = max(self._done.longest_lock_s, held)
