"""The benchmark report: medians, added latency, the target verdicts and the CI smoke check."""

from __future__ import annotations

from typing import Any

import pytest

from bench import report


def run(p50_us: float, p99_us: float, rps: float = 1000.0, cpu: float | None = None, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": 100, "errors": 0, "non_2xx": 0, "rps": rps,
                           "latency_us": {"p50": p50_us, "p99": p99_us}, "ttfb_us": {"p50": p50_us, "p99": p99_us}}
    if cpu is not None:
        out["cpu_us_per_req"] = cpu
    out.update(kw)
    return out


def results(lockgate_seq_p50: float, lockgate_cpu: float) -> dict[str, Any]:
    """Three rounds per system; the medians are the middle values given here."""
    def rounds(*runs: dict[str, Any]) -> list[dict[str, Any]]:
        return list(runs)

    systems = {
        "direct": (10.0, 20.0, 50_000.0, None),
        "ref": (210.0, 270.0, 9000.0, 100.0),
        "lockgate": (lockgate_seq_p50, 300.0, 6000.0, lockgate_cpu),
        "portkey": (710.0, 7020.0, 1300.0, 700.0),
        "litellm": (5010.0, 9020.0, 150.0, 6000.0),
    }
    runs: dict[str, Any] = {}
    for name, (p50, p99, rps, cpu) in systems.items():
        # The medians win over the outliers of the other two rounds.
        runs[name] = {load: rounds(run(p50, p99, rps, cpu), run(p50 * 3, p99 * 3, rps / 3, cpu),
                                   run(p50 / 3, p99 / 3, rps * 3, cpu))
                      for load in ("seq", "c64", "stream_seq", "responses_2k", "responses_50k")}
    return {"date": "2026-11-23T00:00:00+00:00", "mode": "full", "rounds": 3, "seconds": 4.0,
            "machine": {"cores": 2, "memory_gib": 24, "cpu": "x86_64", "kernel": "test"},
            "versions": {"python": "3.11"}, "runs": runs, "cold_start_ms": {"lockgate": [400.0, 450.0, 900.0]},
            "rss_after_mb": {}, "rss_100k": {"requests": 100_000, "rss_mb": 79.0, "errors": 0}}


def target(table: str, name: str) -> tuple[str, str]:
    row = next(line for line in table.splitlines() if line.startswith(f"| {name}"))
    _, value, met, _ = (cell.strip() for cell in row.rsplit("|", 3))
    return value, met


def test_added_latency_is_the_median_minus_direct_in_ms() -> None:
    r = results(lockgate_seq_p50=190.0, lockgate_cpu=90.0)
    assert report.added(r, "lockgate", "seq", "latency_us", "p50") == pytest.approx(0.18)
    assert report.added(r, "ref", "seq", "latency_us", "p99") == pytest.approx(0.25)
    assert report.added(r, "nobody", "seq", "latency_us", "p50") is None


def test_targets_met_and_missed() -> None:
    good = report.targets(results(lockgate_seq_p50=190.0, lockgate_cpu=90.0))
    # (190 - 10) / (210 - 10) = 0.9 of the reference; Portkey adds 700 / 180 = 3.9x, LiteLLM 5000 / 180 = 27.8x.
    assert target(good, "added latency p50, lockgate ÷ reference proxy") == ("0.90", "yes")
    assert target(good, "added latency p50: portkey ÷ lockgate") == ("3.89", "yes")
    assert target(good, "added latency p50: litellm ÷ lockgate") == ("27.78", "yes")
    assert target(good, "CPU per request, lockgate ÷ reference proxy") == ("0.90", "yes")
    assert target(good, "c64 throughput: lockgate ÷ portkey") == ("4.62", "yes")
    assert target(good, "RSS after 100k requests, MB") == ("79.0", "yes")
    assert target(good, "cold start to first 200, ms") == ("450", "yes")
    assert target(good, "c64 throughput: lockgate-2w ÷ litellm") == ("–", "–")  # not measured

    bad = report.targets(results(lockgate_seq_p50=260.0, lockgate_cpu=150.0))
    assert target(bad, "added latency p50, lockgate ÷ reference proxy") == ("1.25", "**no**")
    assert target(bad, "added latency p50: portkey ÷ lockgate") == ("2.80", "**no**")
    assert target(bad, "CPU per request, lockgate ÷ reference proxy") == ("1.50", "**no**")


def test_markdown_has_every_system_in_order() -> None:
    md = report.markdown(results(lockgate_seq_p50=190.0, lockgate_cpu=90.0))
    rows = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ")]
    first_table = rows[1:rows.index("system", 1)] if rows.count("system") > 1 else rows[1:]
    assert first_table == ["direct", "ref", "lockgate", "litellm", "portkey"]


def test_quick_check_fails_on_errors_and_missing_rows(capsys: pytest.CaptureFixture[str]) -> None:
    r = results(lockgate_seq_p50=190.0, lockgate_cpu=90.0)
    r["ingest_e2e"] = {"requests": 2000, "rows": 2000}
    r["ingest_writer"] = {"records": 10, "written": 10, "lost": 0}
    report.check_quick(r)
    assert "0 failed" in capsys.readouterr().out

    r["ingest_e2e"] = {"requests": 2000, "rows": 2163}
    r["runs"]["ref"]["seq"][0]["errors"] = 2
    with pytest.raises(SystemExit) as exc:
        report.check_quick(r)
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert "2 failed" in captured.out
    assert "ingest: 2000 requests but 2163 rows" in captured.err and "ref/seq" in captured.err


def stats_results(worst_p95: float) -> dict[str, Any]:
    q = [{"query": "overall, 30 days", "p50_ms": 3.0, "p95_ms": 4.0, "max_ms": 5.0, "rollup_rows": 300,
          "raw_rows": 2100, "rows_out": 1},
         {"query": "by user, 30 days (top 100)", "p50_ms": 80.0, "p95_ms": worst_p95, "max_ms": 150.0,
          "rollup_rows": 40_000, "raw_rows": 2500, "rows_out": 100}]
    return {"rows": 1_000_000, "tail_rows": 2000, "repeats": 30, "queries": q, "p95_ms_worst": worst_p95,
            "target_ms": 200.0, "fold_us_per_row": 9.5, "fold_rows": 1_000_000, "fold_s": 9.5,
            "generate": {"total_s": 41.0, "db_mb": 700.0},
            "retention": {"rows_deleted": 166_000, "bodies_cleared": 30_000, "batches": 400, "batch_rows": 500,
                          "seconds": 12.0, "longest_lock_ms": 41.5, "p50_lock_ms": 20.0, "p99_lock_ms": 35.0}}


def test_stats_table_and_target() -> None:
    r = results(lockgate_seq_p50=190.0, lockgate_cpu=90.0)
    r["stats"] = stats_results(120.0)
    md = report.markdown(r)
    assert "### Stats over 1,000,000 logged requests (SQLite)" in md
    assert "| by user, 30 days (top 100) | 80.0 | 120.0 | 40,000 | 2,500 |" in md
    assert "longest **41.5 ms**" in md
    assert target(report.targets(r), "stats over 1,000,000 rows, slowest query p95, ms") == ("120.0", "yes")
    r["stats"] = stats_results(230.0)
    assert target(report.targets(r), "stats over 1,000,000 rows, slowest query p95, ms") == ("230.0", "**no**")
    assert "stats over" not in report.targets(results(lockgate_seq_p50=190.0, lockgate_cpu=90.0))


def test_quick_check_fails_when_stats_miss_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    r = results(lockgate_seq_p50=190.0, lockgate_cpu=90.0)
    r["stats"] = stats_results(250.0)
    with pytest.raises(SystemExit):
        report.check_quick(r)
    assert "stats: slowest query p95 250.0 ms > 200 ms" in capsys.readouterr().err


def ws_results(ws_bytes: float) -> dict[str, Any]:
    def system(p50: float, kb: float, cpu: float | None) -> dict[str, Any]:
        return {"p50_ms": p50, "p90_ms": p50 * 2, "late_p50_ms": p50 * 1.1, "upstream_bytes_per_turn": kb * 1000,
                "cpu_us_per_turn": cpu}
    return {"turns": 40, "sessions": 5, "rounds": 3, "systems": {
        "direct": system(0.3, 12.7, None), "lockgate-ws": system(0.9, ws_bytes, 1375.0),
        "lockgate": system(1.2, 101.9, 1333.0)}}


def test_websocket_session_table_and_check(capsys: pytest.CaptureFixture[str]) -> None:
    r = results(lockgate_seq_p50=190.0, lockgate_cpu=90.0)
    r["ws_session"] = ws_results(12.7)
    md = report.markdown(r)
    assert "### Codex over the Responses WebSocket (40 chained tool turns per socket, 5 sockets × 3 rounds)" in md
    assert "| lockgate → upstream socket | 0.900 | 1.800 | 0.990 | 0.600 | 12.7 | 1375 |" in md
    assert "| lockgate → upstream over HTTPS | 1.200 | 2.400 | 1.320 | 0.900 | 101.9 | 1333 |" in md
    report.check_quick(r)
    assert "0 failed" in capsys.readouterr().out
    r["ws_session"] = ws_results(101.9)  # the bridge sent whole conversations: the smoke run fails
    with pytest.raises(SystemExit):
        report.check_quick(r)
    assert "ws_session" in capsys.readouterr().err
