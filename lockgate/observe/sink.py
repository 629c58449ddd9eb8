"""LogSink: the request path hands over records without waiting; one thread writes them.

`submit()` puts a record on a bounded in-memory queue (bounded by count and by bytes).
When the queue is full the record goes to the spool file instead, so it is delayed,
never dropped. The writer thread takes records off the queue in batches (by rows, bytes
or time), enriches each record (usage, cost), inserts each batch in one transaction and
then shows it to the observers (metrics, traces). When the database fails, the batch is
spooled and the spool is replayed every `retry_interval`; replayed rows that already
exist are skipped, so nothing is written twice.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from lockgate.memory import FreeMemoryReturner
from lockgate.observe.record import LogRecord
from lockgate.observe.spool import Spool
from lockgate.observe.usage import apply_usage
from lockgate.store.db import begin_write
from lockgate.store.requests import insert_records

__all__ = ["Enricher", "LogSink", "Observer", "SinkOptions", "SinkStats"]

log = logging.getLogger("lockgate.sink")

# Errors that mean "the database cannot take writes right now" (locked, down, pool exhausted):
# keep the records and retry. Any other error is blamed on the batch's data.
_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError,
                sa.exc.TimeoutError)
_GIL_SLICE = 0.0001  # seconds of writer work between GIL hand-offs (see _GilPacer)
_WARN_EVERY = 10.0  # seconds between repeated warnings from the request path


@dataclass(frozen=True, kw_only=True)
class SinkOptions:
    store_bodies: bool = True
    max_body_bytes: int = 1_048_576
    queue_size: int = 10_000
    queue_max_bytes: int = 64 * 1024 * 1024
    batch_rows: int = 500
    batch_bytes: int = 8 * 1024 * 1024
    flush_interval: float = 0.5
    spool_path: Path
    retry_interval: float = 2.0


@dataclass(frozen=True, slots=True)
class SinkStats:
    """Counts since the sink was made.

    With nothing in flight: submitted == written + spooled + lost (spooled: this process'
    records sent to the spool file), and replayed counts spooled records written later
    (including any left over by an earlier run). lost also counts unreadable spool frames.
    """

    submitted: int
    written: int
    spooled: int
    replayed: int
    lost: int
    queue_depth: int
    write_errors: int


class _Unavailable(Exception):
    """The database could not take a write; the caller keeps the records."""


Enricher = Callable[[LogRecord], None]
Observer = Callable[[Sequence[LogRecord]], None]
_Item = tuple[LogRecord, int] | None  # (record, approx size); None only wakes the writer


class _RecordQueue(queue.Queue[_Item]):
    """queue.Queue that also counts records and bytes. `_put`/`_get` run under the queue's
    own mutex, so the counts need no lock of their own."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.nbytes = 0
        self.depth = 0  # records only (qsize() also counts wake-ups)
        self.enqueued = 0

    def _put(self, item: _Item) -> None:
        super()._put(item)
        if item is not None:
            self.nbytes += item[1]
            self.depth += 1
            self.enqueued += 1

    def _get(self) -> _Item:
        item = super()._get()
        if item is not None:
            self.nbytes -= item[1]
            self.depth -= 1
        return item

    def wake(self) -> None:
        # A full queue already keeps the writer busy, so a lost wake-up costs nothing.
        with contextlib.suppress(queue.Full):
            self.put_nowait(None)


class LogSink:
    def __init__(self, engine: sa.Engine, options: SinkOptions, *,
                 enrich: Sequence[Enricher] = (apply_usage,), observers: Sequence[Observer] = ()) -> None:
        """`enrich` steps run on each record in the writer before it is stored (usage, then
        cost, ...); `observers` see each batch after it is committed (metrics, traces)."""
        self._engine = engine
        self._opts = options
        self._enrich = tuple(enrich)
        self._return_memory = FreeMemoryReturner()
        self._observers = tuple(observers)
        self._queue = _RecordQueue(max(1, options.queue_size))
        self._spool = Spool(options.spool_path)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._kick = threading.Event()  # a batch is full (or someone waits): stop sleeping
        self._closed = False
        self._progress = threading.Condition()  # flush() waits on it; the writer notifies
        self._flush_waiters = 0
        self._inflight: list[LogRecord] = []  # the batch the writer holds (close() may spool it)
        self._down = False
        self._next_retry = 0.0
        # Counters written by the writer thread only.
        self._done = 0  # queued records the writer has finished with (written, spooled or dropped)
        self._written = 0
        self._replayed = 0
        self._write_errors = 0
        # Counters on rare paths that several threads reach: under _slow_lock.
        self._slow_lock = threading.Lock()
        self._overflowed = 0  # submitted straight to the spool
        self._overflow_lost = 0  # submitted, but neither queued nor spooled
        self._dropped = 0  # taken off the queue but neither written nor spooled
        self._last_warning = 0.0

    # -- request path -------------------------------------------------------------------

    def submit(self, record: LogRecord) -> None:
        """Hand a record over without waiting on the database. Never raises."""
        try:
            if not self._closed:
                size = record.approx_size()
                if self._queue.nbytes + size <= self._opts.queue_max_bytes:
                    try:
                        self._queue.put_nowait((record, size))
                    except queue.Full:
                        pass
                    else:
                        q = self._queue
                        if (q.depth >= self._opts.batch_rows or q.nbytes >= self._opts.batch_bytes) \
                                and not self._kick.is_set():
                            self._kick.set()
                        return
            self._overflow(record)
        except Exception:
            with self._slow_lock:
                self._overflow_lost += 1
            self._warn("log record %s lost", record.id, exc_info=True)

    def _overflow(self, record: LogRecord) -> None:
        try:
            self._spool.append([record], durable=False)
        except Exception:
            with self._slow_lock:
                self._overflow_lost += 1
            self._warn("log queue full and spool %s not writable; record lost", self._spool.path,
                       exc_info=True)
            return
        with self._slow_lock:
            self._overflowed += 1
        self._warn("log queue full (or sink closed); spooling records to %s", self._spool.path)

    def _warn(self, msg: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY:  # the request path must not flood the log
            self._last_warning = now
            log.warning(msg, *args, exc_info=exc_info)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread; it replays the spool first. Earlier submits wait in the queue."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lockgate-log-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, write everything queued, stop the writer. What cannot be written
        within `timeout` goes to the spool (later submits go there too)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._kick.set()
        self._queue.wake()
        leftover: list[LogRecord] = []
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("log writer did not finish within %.1fs; spooling the rest", timeout)
                # The writer may still commit this batch; replay then skips the copies.
                leftover = list(self._inflight)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                leftover.append(item[0])
        if leftover:
            try:
                self._spool.append(leftover)
            except Exception:
                log.exception("could not spool %d log records at shutdown; they are lost", len(leftover))
                with self._slow_lock:
                    self._dropped += len(leftover)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record submitted so far is in the database (spool included).
        False if that did not happen within `timeout` or the writer is not running."""
        target = self._queue.enqueued
        deadline = time.monotonic() + timeout
        with self._progress:
            self._flush_waiters += 1
        try:
            while True:
                if self._done >= target and not self._spool.pending():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._kick.set()
                self._queue.wake()  # do not wait for flush_interval / retry_interval
                with self._progress:
                    self._progress.wait(min(remaining, 0.1))
        finally:
            with self._progress:
                self._flush_waiters -= 1

    @property
    def stats(self) -> SinkStats:
        return SinkStats(
            submitted=self._queue.enqueued + self._overflowed + self._overflow_lost,
            written=self._written, spooled=self._spool.appended, replayed=self._replayed,
            lost=self._overflow_lost + self._dropped + self._spool.skipped,
            queue_depth=self._queue.depth, write_errors=self._write_errors)

    # -- writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        self._replay_spool()
        self._next_retry = time.monotonic() + self._opts.retry_interval
        while True:
            stopping = self._stop.is_set()  # read before collecting: the queue is drained after it
            try:
                batch = self._collect()
                if batch:
                    self._store(batch)
                elif stopping:
                    return
                if not stopping:
                    self._maybe_replay()
            except Exception:  # a bug must not end the writer: keep the records, carry on
                log.exception("log writer error")
                held, self._inflight = self._inflight, []
                self._spool_batch(held)
                self._done += len(held)
                time.sleep(min(self._opts.retry_interval, 1.0))
            if self._flush_waiters:
                with self._progress:
                    self._progress.notify_all()

    def _collect(self) -> list[LogRecord]:
        """The next batch: up to batch_rows / batch_bytes, or what arrived within flush_interval
        of its first record. Empty when idle until the next retry, or when woken."""
        opts = self._opts
        batch: list[LogRecord] = []
        self._inflight = batch
        nbytes = 0
        deadline = 0.0
        while len(batch) < opts.batch_rows and nbytes < opts.batch_bytes:
            now = time.monotonic()
            if not batch:
                # Block for the first record only: one wake-up per batch, not per request.
                timeout = 0.0 if self._stop.is_set() else self._next_retry - now
                try:
                    item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
            else:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    if self._stop.is_set() or self._flush_waiters:
                        break  # take what is queued, do not wait for more
                    remaining = deadline - now
                    if remaining <= 0:
                        break
                    # Sleep until the batch is due; submit() kicks when it is full sooner.
                    self._kick.wait(remaining)
                    self._kick.clear()
                    continue
            if item is None:
                if not batch:
                    break  # woken: back to the loop for housekeeping (stop, flush, replay)
                continue
            if not batch:
                deadline = time.monotonic() + opts.flush_interval
            batch.append(item[0])
            nbytes += item[1]
        return batch

    def _store(self, batch: list[LogRecord]) -> None:
        pace = _GilPacer(_GIL_SLICE)
        for rec in batch:
            self._enrich_record(rec)
            pace()
        if self._down and time.monotonic() < self._next_retry:
            self._spool_batch(batch)  # it failed a moment ago; do not wait on it again yet
        else:
            try:
                self._written += self._write(batch, pace)
            except _Unavailable:
                self._spool_batch(batch)
        self._inflight = []
        self._done += len(batch)
        self._return_memory()

    def _maybe_replay(self) -> None:
        now = time.monotonic()
        urgent = self._flush_waiters > 0 and not self._down
        if now < self._next_retry and not urgent:
            return
        self._next_retry = now + self._opts.retry_interval
        if self._spool.pending():
            self._replay_spool()

    def _replay_spool(self) -> None:
        try:
            with contextlib.closing(self._spool.replay(self._opts.batch_rows)) as batches:
                for batch in batches:
                    for rec in batch:
                        self._enrich_record(rec)
                    self._replayed += self._write(batch)
        except _Unavailable:
            pass  # the rest stays in the spool for the next try
        except OSError:
            log.exception("cannot read the log spool %s", self._spool.path)

    def _write(self, batch: list[LogRecord], pace: Callable[[], None] | None = None) -> int:
        """Insert a batch in one transaction; returns how many records were written.

        Raises _Unavailable when the database cannot take writes. If the database rejects
        the batch's data, the records are written one by one and the rejected ones dropped,
        so one bad record cannot hold up the rest (or the spool) forever.
        """
        try:
            self._insert(batch, pace)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        except Exception:
            log.warning("the database rejected a log batch; writing its %d records one by one", len(batch),
                        exc_info=True)
        else:
            self._down = False
            self._observe(batch)
            return len(batch)
        written = 0
        for rec in batch:
            try:
                self._insert([rec])
            except _UNAVAILABLE as exc:
                raise self._unavailable(exc) from exc
            except Exception:
                log.exception("the database rejected log record %s; dropped", rec.id)
                with self._slow_lock:
                    self._dropped += 1
            else:
                written += 1
                self._observe([rec])
        return written

    def _insert(self, records: list[LogRecord], pace: Callable[[], None] | None = None) -> None:
        with begin_write(self._engine) as conn:
            insert_records(conn, records, store_bodies=self._opts.store_bodies,
                           max_body_bytes=self._opts.max_body_bytes, pace=pace)

    def _unavailable(self, exc: Exception) -> _Unavailable:
        """Note that the database is down (retry after retry_interval); returns the error to raise."""
        self._write_errors += 1
        if not self._down:
            log.warning("log database unavailable (%s); spooling to %s", exc, self._spool.path)
        self._down = True
        self._next_retry = time.monotonic() + self._opts.retry_interval
        return _Unavailable(str(exc))

    def _spool_batch(self, batch: list[LogRecord]) -> None:
        if not batch:
            return
        try:
            self._spool.append(batch)
        except Exception:
            log.exception("could not spool %d log records; they are lost", len(batch))
            with self._slow_lock:
                self._dropped += len(batch)

    def _enrich_record(self, rec: LogRecord) -> None:
        for step in self._enrich:
            try:
                step(rec)
            except Exception:  # usage, cost and the like are niceties; the row matters more
                log.debug("log enrichment %r failed for %s", step, rec.id, exc_info=True)

    def _observe(self, batch: Sequence[LogRecord]) -> None:
        for observer in self._observers:
            try:
                observer(batch)
            except Exception:
                log.warning("log observer %r failed", observer, exc_info=True)


class _GilPacer:
    """Called between records: after a slice of work, let a waiting event loop take the GIL
    now instead of at the next forced switch (0.5 ms). Yielding after every record made the
    writer wait for the GIL every time, and a saturated loop starved it."""

    __slots__ = ("_since", "_slice")

    def __init__(self, slice_s: float) -> None:
        self._slice = slice_s
        self._since = time.perf_counter()

    def __call__(self) -> None:
        now = time.perf_counter()
        if now - self._since >= self._slice:
            time.sleep(0)
            self._since = time.perf_counter()

