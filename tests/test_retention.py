"""Retention against a real SQLite file while the log writer keeps writing; its config checks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa

from lockgate.config import check_config
from lockgate.observe.record import LogRecord, RequestMeta
from lockgate.observe.sink import LogSink, SinkOptions
from lockgate.store.db import begin_write
from lockgate.store.requests import get_request, insert_records
from lockgate.store.retention import Retention
from lockgate.store.rollup import fold_all
from lockgate.store.schema import request_feedback, request_scores
from lockgate.store.stats import StatsQuery, query_stats

NOW = 1_790_000_000.0
DAY = 86400.0


def rec(i: int, ts: float) -> LogRecord:
    return LogRecord(id=f"r-{i:06d}", ts=ts, method="POST", path="/v1/responses", api="responses", status=200,
                     model_resolved="gpt-5", provider="openai", latency_ms=50.0, input_tokens=3,
                     request_body=b'{"input":"old"}', response_body=[b'{"output":"x"}'],
                     meta=RequestMeta(headers={"helicone-user-id": "u"}))


def ages(engine: sa.Engine) -> dict[str, tuple[float, bool]]:
    with engine.connect() as conn:
        return {r.id: (NOW - r.ts, bool(r.has_bodies)) for r in conn.exec_driver_sql(
            "SELECT id, ts, has_bodies FROM requests")}


def test_retention_deletes_old_rows_and_bodies_in_batches_while_the_writer_writes(engine: sa.Engine,
                                                                                    tmp_path: Path) -> None:
    # 40 days of rows, one every 4 hours, with bodies, feedback and scores.
    old = [rec(i, NOW - 40 * DAY + i * 4 * 3600) for i in range(240)]
    with begin_write(engine) as conn:
        insert_records(conn, old, store_bodies=True, max_body_bytes=1000)
        for r in old:
            conn.execute(sa.insert(request_feedback).values(request_id=r.id, rating=True, created_at=r.ts,
                                                            updated_at=r.ts))
            conn.execute(sa.insert(request_scores).values(request_id=r.id, name="acc", value=1.0, created_at=r.ts))
        # Feedback for a request that never arrived: old goes, recent stays.
        for rid, ts in (("ghost-old", NOW - 35 * DAY), ("ghost-new", NOW - DAY)):
            conn.execute(sa.insert(request_feedback).values(request_id=rid, rating=False, created_at=ts,
                                                            updated_at=ts))
    fold_all(engine)
    before = query_stats(engine, StatsQuery(bucket="day"))

    sink = LogSink(engine, SinkOptions(spool_path=tmp_path / "spool.bin", flush_interval=0.01, batch_rows=20))
    sink.start()
    stop = threading.Event()
    submitted = 0

    def keep_writing() -> None:
        nonlocal submitted
        while not stop.is_set():
            sink.submit(rec(100_000 + submitted, time.time()))
            submitted += 1
            time.sleep(0.0005)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        done = Retention(engine, bodies_after_days=10, rows_after_days=30, batch_rows=16, pause=0.001).run(now=NOW)
    finally:
        stop.set()
        writer.join()
    assert sink.flush(10)
    sink.close()
    assert sink.stats.written == submitted > 0 and sink.stats.lost == 0 and sink.stats.spooled == 0

    left = {rid: v for rid, v in ages(engine).items() if rid < "r-100000"}
    deleted = [r for r in old if r.ts < NOW - 30 * DAY]  # start inclusive: exactly 30 days old stays
    assert done.rows_deleted == len(deleted) == 60
    assert all(age <= 30 * DAY for age, _ in left.values()) and len(left) == 180
    assert all(has == (age <= 10 * DAY) for age, has in left.values())
    assert done.bodies_cleared == sum(1 for age, _ in left.values() if age > 10 * DAY)
    assert done.batches > 10 and done.longest_lock_s < 1.0 and done.orphans_deleted == 1
    cleared = get_request(engine, next(rid for rid, (age, _) in left.items() if age > 20 * DAY))
    assert cleared is not None and cleared["request_body"] is None and cleared["response_body"] is None
    assert cleared["meta_headers"] == {"helicone-user-id": "u"}  # annotations stay
    kept = get_request(engine, next(rid for rid, (age, _) in left.items() if age < 5 * DAY))
    assert kept is not None and kept["request_body"] == '{"input":"old"}'
    with engine.connect() as conn:
        fb = set(conn.execute(sa.select(request_feedback.c.request_id)).scalars())
        sc = set(conn.execute(sa.select(request_scores.c.request_id)).scalars())
        bodies = conn.exec_driver_sql("SELECT count(*) FROM request_bodies WHERE request_id NOT IN "
                                      "(SELECT id FROM requests)").scalar()
    assert fb == set(left) | {"ghost-new"} and sc == set(left) and bodies == 0

    # The rollup keeps the deleted rows: the old days' stats do not change.
    after = query_stats(engine, StatsQuery(bucket="day", end=NOW - 30 * DAY))
    old_days = [(r.bucket_ts, r.requests, r.tokens.input) for r in before.rows if (r.bucket_ts or 0) < NOW - 31 * DAY]
    assert old_days and [(r.bucket_ts, r.requests, r.tokens.input) for r in after.rows][:len(old_days)] == old_days

    # A second pass has nothing left to do.
    again = Retention(engine, bodies_after_days=10, rows_after_days=30, batch_rows=16, pause=0).run(now=NOW)
    assert (again.rows_deleted, again.bodies_cleared) == (0, 0)


def test_rows_the_rollup_has_not_folded_stay(engine: sa.Engine) -> None:
    with begin_write(engine) as conn:
        insert_records(conn, [rec(i, NOW - 50 * DAY + i) for i in range(5)], store_bodies=False, max_body_bytes=0)
    ret = Retention(engine, rows_after_days=30, batch_rows=2, pause=0)
    assert ret.run(now=NOW).rows_deleted == 0
    fold_all(engine)
    # The newest row by rowid stays too (SQLite would reuse its rowid behind the watermark).
    assert ret.run(now=NOW).rows_deleted == 4
    assert list(ages(engine)) == ["r-000004"]
    assert query_stats(engine, StatsQuery()).total.requests == 5


def test_config_check_reports_retention_mistakes_with_lines(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.toml"
    cfg.write_text('[providers.local]\nbase_url = "http://127.0.0.1:9/v1"\n\n[retention]\n'
                   'bodies_after_days = 30\nrows_after_days = 7\nbatch_rows = 0\nspeed = 3\n')
    problems = [str(p) for p in check_config(cfg, env={})]
    assert any(p.startswith(f"{cfg}:7: retention.batch_rows") for p in problems), problems
    assert any(p.startswith(f"{cfg}:8: retention.speed") for p in problems), problems
    cfg.write_text('[providers.local]\nbase_url = "http://127.0.0.1:9/v1"\n\n[retention]\n'
                   'bodies_after_days = 30\nrows_after_days = 7\n')
    problems = [str(p) for p in check_config(cfg, env={})]
    assert problems == [f"{cfg}:4: retention: bodies_after_days (30) must be shorter than rows_after_days (7): "
                        "rows take their bodies with them"]
    assert check_config(cfg, env={"LOCKGATE_RETENTION_ROWS_AFTER_DAYS": "90"}) == []
