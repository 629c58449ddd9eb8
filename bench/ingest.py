"""Log ingest: how many rows per second the batch writer sustains into SQLite."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from lockgate.observe.record import LogRecord, RequestMeta
from lockgate.observe.sink import LogSink, SinkOptions
from lockgate.store.db import migrate, open_engine

_REQ = b'{"model":"gpt-5","input":"' + b"x" * 2000 + b'"}'
_RESP = (b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_1","usage":'
         b'{"input_tokens":500,"input_tokens_details":{"cached_tokens":100},"output_tokens":40,'
         b'"output_tokens_details":{"reasoning_tokens":7},"total_tokens":540}}}')


def writer_rows_per_second(n: int) -> dict[str, float]:
    """n realistic records queued first, then the writer started: how fast it drains them
    alone (the request path's cost is `submit_us_per_record`)."""
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    engine = open_engine(f"sqlite:///{work / 'lockgate.db'}")
    migrate(engine)
    sink = LogSink(engine, SinkOptions(spool_path=work / "spool.bin", queue_size=n + 10,
                                       queue_max_bytes=4 * 1024**3))
    t0 = time.perf_counter()
    for i in range(n):
        sink.submit(LogRecord(id=f"{i:032x}", ts=time.time(), method="POST", path="/v1/responses",
                              api="responses", key_id="key_1", key_name="bench", stream=True, model_requested="gpt-5",
                              model_resolved="gpt-5", provider="openai", status=200, latency_ms=12.5, ttfb_ms=3.0,
                              ttft_ms=4.0, usage_source=[_RESP], meta=RequestMeta(session_id="s1"),
                              request_body=_REQ, response_body=[_RESP], request_bytes=len(_REQ),
                              response_bytes=len(_RESP)))
    submit_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    sink.start()
    assert sink.flush(timeout=300)
    total_s = time.perf_counter() - t1
    stats = sink.stats
    sink.close()
    engine.dispose()
    size = os.path.getsize(work / "lockgate.db")
    return {"records": n, "written": stats.written, "lost": stats.lost, "spooled": stats.spooled,
            "submit_us_per_record": submit_s / n * 1e6, "rows_per_s": n / total_s, "db_mb": size / 1e6}
