"""The log sink against a real SQLite file: batching, usage, spooling, replay, shutdown."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from lockgate.observe.record import LogRecord
from lockgate.observe.sink import LogSink, SinkOptions
from lockgate.observe.spool import Spool
from lockgate.observe.usage import apply_usage
from lockgate.store.db import begin_write, database_url_for, migrate, open_engine
from lockgate.store.requests import count_requests, get_request, insert_records


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lockgate.db"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    # A short busy_timeout, so that a locked database shows up as a write error quickly.
    eng = open_engine(database_url_for(tmp_path), busy_timeout_ms=50)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def make_sink(engine: sa.Engine, tmp_path: Path) -> Iterator[Callable[..., LogSink]]:
    sinks: list[LogSink] = []

    def make(**kw: Any) -> LogSink:
        opts: dict[str, Any] = {"spool_path": tmp_path / "spool.bin", "flush_interval": 0.05,
                                "retry_interval": 0.1, **kw}
        sink = LogSink(engine, SinkOptions(**opts))
        sinks.append(sink)
        return sink

    yield make
    for s in sinks:
        s.close(timeout=5)


@pytest.fixture
def batches(engine: sa.Engine) -> Iterator[list[int]]:
    """Sizes of the executemany INSERTs into `requests`, in order."""
    sizes: list[int] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.startswith("INSERT INTO requests "):
            sizes.append(len(params) if executemany else 1)

    sa.event.listen(engine, "before_cursor_execute", seen)
    yield sizes
    sa.event.remove(engine, "before_cursor_execute", seen)


def record(i: int, **kw: Any) -> LogRecord:
    rec = LogRecord(id=f"req-{i:05d}", ts=1000.0 + i, method="POST", path="/v1/responses", api="responses",
                    status=200, request_body=b'{"model":"gpt-5","input":"hi"}',
                    response_body=[b'{"ok":true}'])
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


def ids(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql("SELECT id FROM requests ORDER BY id").scalars())


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def lock_database(db_path: Path) -> sqlite3.Connection:
    """Another connection holding the write lock: the sink's writes fail with 'database is locked'."""
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


# -- volume and batching ------------------------------------------------------------------


def test_thousand_records_from_threads_make_thousand_rows(make_sink: Callable[..., LogSink],
                                                          engine: sa.Engine) -> None:
    sink = make_sink(batch_rows=100)
    sink.start()

    def submit(worker: int) -> None:
        for i in range(125):
            sink.submit(record(worker * 1000 + i))

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sink.flush(10)
    assert count_requests(engine) == 1000
    stats = sink.stats
    assert (stats.submitted, stats.written, stats.spooled, stats.lost) == (1000, 1000, 0, 0)
    assert (stats.queue_depth, stats.replayed, stats.write_errors) == (0, 0, 0)


def test_batches_by_row_count(make_sink: Callable[..., LogSink], engine: sa.Engine,
                              batches: list[int]) -> None:
    sink = make_sink(batch_rows=10, flush_interval=60)
    for i in range(25):
        sink.submit(record(i))
    sink.start()
    wait_for(lambda: count_requests(engine) == 20)
    time.sleep(0.1)
    assert batches == [10, 10] and count_requests(engine) == 20  # the last 5 wait for flush_interval
    assert sink.flush(5)
    assert batches == [10, 10, 5]


def test_batches_by_bytes(make_sink: Callable[..., LogSink], engine: sa.Engine, batches: list[int]) -> None:
    size = record(0).approx_size()
    sink = make_sink(batch_rows=1000, batch_bytes=3 * size, flush_interval=60)
    for i in range(7):
        sink.submit(record(i))
    sink.start()
    wait_for(lambda: count_requests(engine) == 6)
    time.sleep(0.1)
    assert batches == [3, 3]
    assert sink.flush(5)
    assert batches == [3, 3, 1]


def test_batches_by_time(make_sink: Callable[..., LogSink], engine: sa.Engine, batches: list[int]) -> None:
    sink = make_sink(batch_rows=1000, flush_interval=0.4)
    sink.start()
    started = time.monotonic()
    for i in range(3):
        sink.submit(record(i))
    time.sleep(0.1)
    assert count_requests(engine) == 0  # still collecting
    wait_for(lambda: count_requests(engine) == 3)
    assert time.monotonic() - started >= 0.35
    assert batches == [3]


# -- usage --------------------------------------------------------------------------------

_RESPONSES_DONE = (
    b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_abc",'
    b'"object":"response","usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":100},'
    b'"output_tokens":30,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":150}}}')
_CHAT_USAGE = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,'
    b'"completion_tokens":7,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":null},'
    b'"completion_tokens_details":{"reasoning_tokens":2}}}')
_EMBEDDINGS = orjson.dumps({"object": "list", "data": [{"embedding": [0.1]}],
                            "usage": {"prompt_tokens": 5, "total_tokens": 5}})


_TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens",
           "total_tokens")


def tokens(src: dict[str, Any] | LogRecord) -> tuple[Any, ...]:
    return tuple(src[k] if isinstance(src, dict) else getattr(src, k) for k in _TOKENS)


def test_usage_is_parsed_in_the_writer(make_sink: Callable[..., LogSink], engine: sa.Engine) -> None:
    sink = make_sink()
    sink.start()
    created = (b'event: response.created\n'
               b'data: {"type":"response.created","response":{"id":"resp_abc","usage":null}}')
    sink.submit(record(1, usage_source=[created, _RESPONSES_DONE]))
    sink.submit(record(2, api="chat", usage_source=[b"data: [DONE]", _CHAT_USAGE]))
    sink.submit(record(3, api="embeddings", usage_source=[_EMBEDDINGS]))
    assert sink.flush(5)
    rows = {r: get_request(engine, f"req-{r:05d}") or {} for r in (1, 2, 3)}
    assert tokens(rows[1]) == (120, 30, 100, None, 12, 150) and rows[1]["response_id"] == "resp_abc"
    assert tokens(rows[2]) == (11, 7, None, None, 2, 18) and rows[2]["response_id"] is None
    assert tokens(rows[3]) == (5, None, None, None, None, 5)


def test_apply_usage_shapes_and_bad_input() -> None:
    # A bare data payload, and a plain (non-stream) response object.
    rec = record(1, usage_source=[_RESPONSES_DONE.split(b"data: ", 1)[1]])
    apply_usage(rec)
    assert (rec.input_tokens, rec.cached_input_tokens, rec.response_id) == (120, 100, "resp_abc")
    body = orjson.dumps({"id": "resp_x", "object": "response", "output": [{"text": "data: {not json"}],
                         "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}})
    rec = record(2, usage_source=[body])
    apply_usage(rec)
    assert (rec.input_tokens, rec.output_tokens, rec.total_tokens, rec.response_id) == (1, 2, 3, "resp_x")
    # Values the request path already knows are kept; garbage and nulls are ignored.
    junk = [b"{oops", b'data: {"usage": null}', b"", b"event: ping",
            b'{"usage": {"prompt_tokens": "7", "completion_tokens": null}}']
    rec = record(3, input_tokens=999, usage_source=[*junk, _CHAT_USAGE])
    apply_usage(rec)
    assert (rec.input_tokens, rec.output_tokens, rec.total_tokens) == (999, 7, 18)
    # Anthropic: input excludes cache reads/writes there; stored with the OpenAI meaning.
    start = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","usage":'
             b'{"input_tokens":10,"cache_read_input_tokens":50,"cache_creation_input_tokens":5,"output_tokens":1}}}')
    delta = b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":42}}'
    rec = record(4, usage_source=[start, delta])
    apply_usage(rec)
    assert tokens(rec) == (65, 42, 50, 5, None, 107)
    assert rec.response_id is None


def test_apply_usage_event_framing_and_odd_shapes() -> None:
    # CRLF line ends, an id line, and data split over two lines (joined by a newline).
    payload = _RESPONSES_DONE.split(b"data: ", 1)[1]
    split = payload.index(b'"usage"')
    framed = (b"id: 7\r\nevent: response.completed\r\ndata: " + payload[:split]
              + b"\r\ndata:" + payload[split:] + b"\r\n")
    rec = record(1, usage_source=[framed])
    apply_usage(rec)
    assert tokens(rec) == (120, 30, 100, None, 12, 150) and rec.response_id == "resp_abc"
    # A big terminal event: everything but id, object and usage is skipped.
    big = orjson.dumps({"type": "response.completed", "response": {
        "id": "resp_big", "object": "response", "output": [{"type": "reasoning", "encrypted_content": "g" * 50_000}],
        "usage": {"input_tokens": 9, "output_tokens": 1, "total_tokens": 10}}})
    rec = record(2, usage_source=[b"event: response.completed\ndata: " + big])
    apply_usage(rec)
    assert (rec.input_tokens, rec.total_tokens, rec.response_id) == (9, 10, "resp_big")
    # Unexpected types where the fast decoder expects objects: read generically, nothing lost.
    odd = orjson.dumps({"type": "response.note", "response": "text", "id": "resp_odd", "object": "response",
                        "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}})
    rec = record(3, usage_source=[odd])
    apply_usage(rec)
    assert (rec.input_tokens, rec.output_tokens, rec.response_id) == (3, 4, "resp_odd")
    # Usage that is not an object, and a non-object top level, are ignored, not raised.
    rec = record(4, usage_source=[b'{"response": 1, "usage": [5]}', b'{"usage": "5"}',
                                  b"[1, 2]", b"data: [1]", b"data:"])
    apply_usage(rec)
    assert tokens(rec) == (None,) * 6


def test_enrich_steps_run_before_the_insert_and_observers_see_committed_batches(
        engine: sa.Engine, tmp_path: Path) -> None:
    seen: list[list[str]] = []

    def price(rec: LogRecord) -> None:
        rec.cost_usd = (rec.input_tokens or 0) * 0.5

    def broken(rec: LogRecord) -> None:
        raise RuntimeError("an enrichment bug must not cost the row")

    def observer(batch: Sequence[LogRecord]) -> None:
        assert count_requests(engine) >= len(batch)  # already committed
        seen.append([r.id for r in batch])

    sink = LogSink(engine, SinkOptions(spool_path=tmp_path / "spool.bin", flush_interval=0.05),
                   enrich=(apply_usage, broken, price), observers=(observer, lambda b: 1 / 0))
    sink.start()
    sink.submit(record(1, usage_source=[_CHAT_USAGE]))
    sink.submit(record(2))
    assert sink.flush(5)
    sink.close()
    assert sorted(i for b in seen for i in b) == ["req-00001", "req-00002"]
    assert (get_request(engine, "req-00001") or {})["cost_usd"] == 5.5
    assert (get_request(engine, "req-00002") or {})["cost_usd"] == 0.0


# -- spool and replay ---------------------------------------------------------------------


def test_queue_full_spools_and_replays_when_the_database_is_free(
        make_sink: Callable[..., LogSink], engine: sa.Engine, db_path: Path) -> None:
    sink = make_sink(queue_size=5, batch_rows=3)
    for i in range(20):  # not started yet: 5 fit in the queue, 15 go to the spool
        sink.submit(record(i))
    assert (sink.stats.queue_depth, sink.stats.spooled) == (5, 15)
    holder = lock_database(db_path)
    try:
        sink.start()
        wait_for(lambda: sink.stats.write_errors >= 1 and sink.stats.queue_depth == 0)
        for i in range(20, 30):
            sink.submit(record(i))
        assert not sink.flush(0.3)  # cannot finish while the database is locked
        assert count_requests(engine) == 0
    finally:
        holder.commit()
        holder.close()
    assert sink.flush(10)
    assert ids(engine) == [f"req-{i:05d}" for i in range(30)]
    stats = sink.stats
    assert stats.submitted == 30 and stats.lost == 0 and stats.write_errors >= 1
    assert stats.written + stats.spooled == 30 and stats.replayed == stats.spooled >= 20
    assert not Spool(db_path.parent / "spool.bin").pending()


def test_queue_bound_by_bytes(make_sink: Callable[..., LogSink], engine: sa.Engine) -> None:
    size = record(0).approx_size()
    sink = make_sink(queue_max_bytes=2 * size)
    for i in range(5):
        sink.submit(record(i))
    assert (sink.stats.queue_depth, sink.stats.spooled) == (2, 3)
    sink.start()
    assert sink.flush(5)
    assert count_requests(engine) == 5 and sink.stats.replayed == 3


def test_replay_skips_records_already_written(make_sink: Callable[..., LogSink], engine: sa.Engine,
                                              tmp_path: Path) -> None:
    # A crash after the commit but before the spool file was deleted: the records are in both.
    recs = [record(i) for i in range(10)]
    with begin_write(engine) as conn:
        insert_records(conn, recs[:6], store_bodies=True, max_body_bytes=1000)
    Spool(tmp_path / "spool.bin").append(recs)
    sink = make_sink()
    sink.start()
    assert sink.flush(5)
    assert ids(engine) == [r.id for r in recs]
    assert sink.stats.replayed == 10


def test_truncated_spool_frame_is_skipped_and_counted(make_sink: Callable[..., LogSink], engine: sa.Engine,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "spool.bin"
    Spool(path).append([record(i) for i in range(3)])
    with path.open("r+b") as f:  # a crash in the middle of the last append
        f.truncate(path.stat().st_size - 5)
    sink = make_sink()
    sink.start()
    assert sink.flush(5)
    assert ids(engine) == ["req-00000", "req-00001"]
    assert (sink.stats.replayed, sink.stats.lost) == (2, 1)
    assert not path.exists() and not list(tmp_path.glob("spool.bin.*.replaying"))


def test_spool_file_is_kept_until_fully_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.bin")
    spool.append([record(i) for i in range(5)])
    gen = spool.replay(batch_rows=2)
    assert [r.id for r in next(gen)] == ["req-00000", "req-00001"]
    other = Spool(tmp_path / "spool.bin")  # e.g. another worker process
    assert list(other.replay()) == []  # the file is claimed by the first replay
    gen.close()  # the consumer failed part-way
    assert spool.pending()
    assert [len(b) for b in spool.replay(batch_rows=2)] == [2, 2, 1]
    assert not spool.pending()


def test_bad_record_is_dropped_without_blocking_the_batch(make_sink: Callable[..., LogSink],
                                                          engine: sa.Engine) -> None:
    sink = make_sink()
    sink.submit(record(1))
    sink.submit(record(2, method=None))  # NOT NULL: the database rejects it
    sink.submit(record(3))
    sink.start()
    assert sink.flush(5)
    assert ids(engine) == ["req-00001", "req-00003"]
    assert (sink.stats.written, sink.stats.lost) == (2, 1)


# -- shutdown -----------------------------------------------------------------------------


def test_close_drains_the_queue(make_sink: Callable[..., LogSink], engine: sa.Engine, tmp_path: Path) -> None:
    sink = make_sink(flush_interval=60, batch_rows=40)
    sink.start()
    for i in range(100):
        sink.submit(record(i))
    sink.close(timeout=10)
    assert count_requests(engine) == 100 and sink.stats.written == 100
    sink.submit(record(100))  # after close: kept in the spool for the next start
    assert sink.stats.spooled == 1 and sink.stats.submitted == 101
    again = make_sink()
    again.start()
    assert again.flush(5)
    assert count_requests(engine) == 101


def test_close_timeout_spools_the_rest_without_duplicates(tmp_path: Path, engine: sa.Engine,
                                                          db_path: Path) -> None:
    # A long busy_timeout: the writer is stuck waiting for the lock when close() gives up.
    slow = open_engine(database_url_for(tmp_path), busy_timeout_ms=1500)
    opts = SinkOptions(spool_path=tmp_path / "spool.bin", flush_interval=0.01, batch_rows=10)
    sink = LogSink(slow, opts)
    holder = lock_database(db_path)
    try:
        sink.start()
        for i in range(30):
            sink.submit(record(i))
        time.sleep(0.2)
        started = time.monotonic()
        sink.close(timeout=0.3)
        assert time.monotonic() - started < 1.0
    finally:
        holder.commit()
        holder.close()
    assert sink.stats.spooled >= 20  # what was queued, and the batch the writer held
    # The stuck writer may still commit its batch now; the replay below then skips those rows.
    wait_for(lambda: not any(t.name == "lockgate-log-writer" for t in threading.enumerate()))
    again = LogSink(engine, opts)
    again.start()
    assert again.flush(5)
    again.close()
    assert ids(engine) == [f"req-{i:05d}" for i in range(30)]
    slow.dispose()
