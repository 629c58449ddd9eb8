"""Stats over a large request log: typical `GET /api/stats` queries, the rollup fold and retention.

    python -m bench.stats_bench [--rows 1000000] [--repeats 30]

Generates the rows (bench/gen_rows.py), folds them into the rollup, adds a tail of rows the
rollup has not folded yet (as a running gateway always has), then times each query the way
`/api/stats` runs it (`query_stats`, in this process; HTTP adds about a millisecond). Last,
retention deletes the oldest days in batches and the longest write-lock hold is reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.gen_rows import generate
from lockgate.store.db import open_engine
from lockgate.store.retention import Retention
from lockgate.store.rollup import fold_all
from lockgate.store.stats import StatsQuery, query_stats

__all__ = ["queries", "run_stats"]

DAY = 86400.0
TARGET_MS = 200.0


def queries(now: float) -> list[tuple[str, StatsQuery]]:
    month, week = now - 30 * DAY, now - 7 * DAY
    return [
        ("overall, 30 days", StatsQuery(start=month, end=now)),
        ("by model, 30 days", StatsQuery(start=month, end=now, group_by="model")),
        ("by user, 30 days (top 100)", StatsQuery(start=month, end=now, group_by="user")),
        ("by property feature, 30 days", StatsQuery(start=month, end=now, group_by="property:feature")),
        ("by hour, 7 days", StatsQuery(start=week, end=now, bucket="hour")),
        ("by day and provider, 30 days", StatsQuery(start=month, end=now, bucket="day", group_by="provider")),
        ("provider = anthropic, by key, 30 days",
         StatsQuery(start=month, end=now, group_by="key", providers=("anthropic",))),
        ("environment = production, by model, 30 days",
         StatsQuery(start=month, end=now, group_by="model", properties=(("environment", "production"),))),
        ("user = user-00001, by day, 30 days", StatsQuery(start=month, end=now, bucket="day", users=("user-00001",))),
        ("by minute, last hour", StatsQuery(start=now - 3600, end=now, bucket="minute")),
    ]


def uncovered(now: float) -> list[tuple[str, StatsQuery]]:
    """Combinations no rollup series covers: answered from log rows (reported, not a target)."""
    return [("model = claude-sonnet-4-5, by user, 7 days (log rows)",
             StatsQuery(start=now - 7 * DAY, end=now, group_by="user", models=("claude-sonnet-4-5",)))]


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s) + 0.5) - 1))]


def run_stats(rows: int, repeats: int, tail: int = 2000, work: Path | None = None) -> dict[str, Any]:
    own = work is None
    work = work or Path(tempfile.mkdtemp(prefix="bench-stats-"))
    path = work / "lockgate.db"
    try:
        now = time.time()
        gen = generate(path, rows, end=now - 60, bodies=0.1)
        engine = open_engine(f"sqlite:///{path}")
        t0 = time.perf_counter()
        folded = fold_all(engine)
        fold_s = time.perf_counter() - t0
        # Rows newer than the last fold: every answer must include them.
        generate(path, tail, days=1, end=now, seed=7)
        results: list[dict[str, Any]] = []
        for name, q in [*queries(now), *uncovered(now)]:
            query_stats(engine, q)  # warm the page cache once
            times, answer = [], None
            for _ in range(repeats):
                t = time.perf_counter()
                answer = query_stats(engine, q)
                times.append((time.perf_counter() - t) * 1000)
            assert answer is not None
            results.append({"query": name, "p50_ms": statistics.median(times), "p95_ms": _pct(times, 0.95),
                            "max_ms": max(times), "rollup_rows": answer.rollup_rows, "raw_rows": answer.raw_rows,
                            "rows_out": len(answer.rows), "rollup": q.series() is not None})
        retention = _retention(engine, now)
        engine.dispose()
        return {"rows": rows, "tail_rows": tail, "repeats": repeats, "generate": gen, "fold_rows": folded,
                "fold_s": fold_s, "fold_us_per_row": fold_s / max(folded, 1) * 1e6, "queries": results,
                "p95_ms_worst": max(r["p95_ms"] for r in results if r["rollup"]), "target_ms": TARGET_MS,
                "retention": retention}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def _retention(engine: Any, now: float) -> dict[str, Any]:
    """Delete rows older than 25 days and bodies older than 20 (a sixth and a third of 30 days)."""
    ret = Retention(engine, bodies_after_days=20, rows_after_days=25, batch_rows=500, pause=0.0)
    t0 = time.perf_counter()
    done = ret.run(now=now)
    secs = time.perf_counter() - t0
    holds = sorted(done.lock_s)
    return {"rows_deleted": done.rows_deleted, "bodies_cleared": done.bodies_cleared, "batches": done.batches,
            "batch_rows": ret.batch, "seconds": secs, "longest_lock_ms": done.longest_lock_s * 1000,
            "p50_lock_ms": statistics.median(holds) * 1000 if holds else 0.0,
            "p99_lock_ms": _pct(holds, 0.99) * 1000 if holds else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    print(json.dumps(run_stats(args.rows, args.repeats), indent=1))


if __name__ == "__main__":
    main()
