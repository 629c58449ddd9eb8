"""Turn benchmark results into Markdown tables, a chart, and the smoke-test verdict."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

ORDER = ["direct", "ref", "lockgate", "lockgate-nolog", "lockgate-2w", "litellm", "portkey"]


def _vals(results: dict[str, Any], system: str, load: str, *path: str) -> list[float]:
    out = []
    for run in results["runs"].get(system, {}).get(load, []):
        v: Any = run
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            out.append(float(v))
    return out


def med(results: dict[str, Any], system: str, load: str, *path: str) -> float | None:
    vals = _vals(results, system, load, *path)
    return statistics.median(vals) if vals else None


def spread(results: dict[str, Any], system: str, load: str, *path: str, scale: float = 1.0) -> str:
    vals = _vals(results, system, load, *path)
    if len(vals) < 2:
        return ""
    return f"{min(vals) * scale:.2f}–{max(vals) * scale:.2f}"


def _f(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None or b <= 0 else f"{a / b:.2f}"


def _systems(results: dict[str, Any]) -> list[str]:
    return [s for s in ORDER if s in results["runs"]]


def added(results: dict[str, Any], system: str, load: str, metric: str, q: str) -> float | None:
    """System − direct, in ms."""
    s, d = med(results, system, load, metric, q), med(results, "direct", load, metric, q)
    return None if s is None or d is None else (s - d) / 1000


def markdown(r: dict[str, Any]) -> str:
    systems = _systems(r)
    m = r["machine"]
    lines = [f"Run: {r['date']}, mode {r['mode']}, {r['rounds']} interleaved round(s) of {r['seconds']} s per "
             f"scenario; medians of the rounds, spread = min–max. Machine: {m['cores']} cores, {m['memory_gib']} GiB, "
             f"{m['cpu']}, kernel {m['kernel']}. Versions: "
             + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".", ""]

    lines += ["### Sequential, non-streaming chat (c=1)", "",
              "| system | p50 ms | p90 ms | p99 ms | added p50 ms | added p99 ms | added ÷ ref | p50 spread |",
              "|---|---|---|---|---|---|---|---|"]
    ref_p50, ref_p99 = added(r, "ref", "seq", "latency_us", "p50"), added(r, "ref", "seq", "latency_us", "p99")
    for s in systems:
        p50, p99 = med(r, s, "seq", "latency_us", "p50"), med(r, s, "seq", "latency_us", "p99")
        a50, a99 = added(r, s, "seq", "latency_us", "p50"), added(r, s, "seq", "latency_us", "p99")
        lines.append(f"| {s} | {_f(p50 and p50 / 1000, 3)} | {_f(_ms(med(r, s, 'seq', 'latency_us', 'p90')), 3)} | "
                     f"{_f(p99 and p99 / 1000, 3)} | {_f(a50, 3)} | {_f(a99, 3)} | "
                     f"{_ratio(a50, ref_p50)} / {_ratio(a99, ref_p99)} | "
                     f"{spread(r, s, 'seq', 'latency_us', 'p50', scale=1e-3)} |")

    lines += ["", "### 64 concurrent, non-streaming chat", "",
              "| system | req/s | p50 ms | p99 ms | errors | CPU µs/req | CPU ÷ ref | req/s spread |",
              "|---|---|---|---|---|---|---|---|"]
    ref_cpu = med(r, "ref", "c64", "cpu_us_per_req")
    for s in systems:
        cpu = med(r, s, "c64", "cpu_us_per_req")
        lines.append(f"| {s} | {_f(med(r, s, 'c64', 'rps'), 0)} | {_f(_ms(med(r, s, 'c64', 'latency_us', 'p50')))} | "
                     f"{_f(_ms(med(r, s, 'c64', 'latency_us', 'p99')))} | {_f(med(r, s, 'c64', 'errors'), 0)} | "
                     f"{_f(cpu, 0)} | {_ratio(cpu, ref_cpu)} | {spread(r, s, 'c64', 'rps')} |")

    if any("c64_lat60" in r["runs"].get(s, {}) for s in systems):
        lines += ["", "### Bigger answers and a slower upstream", "",
                  "| system | c=1, 10 KB answer: p50 ms | added p50 ms | c=64, 60 ms upstream: req/s | p50 ms | "
                  "p99 ms | added p50 ms |", "|---|---|---|---|---|---|---|"]
        for s in systems:
            lines.append(f"| {s} | {_f(_ms(med(r, s, 'seq_10k', 'latency_us', 'p50')), 3)} | "
                         f"{_f(added(r, s, 'seq_10k', 'latency_us', 'p50'), 3)} | "
                         f"{_f(med(r, s, 'c64_lat60', 'rps'), 0)} | "
                         f"{_f(_ms(med(r, s, 'c64_lat60', 'latency_us', 'p50')))} | "
                         f"{_f(_ms(med(r, s, 'c64_lat60', 'latency_us', 'p99')))} | "
                         f"{_f(added(r, s, 'c64_lat60', 'latency_us', 'p50'), 2)} |")

    lines += ["", "### Streaming chat (20 SSE chunks 1 ms apart)", "",
              "| system | c1 TTFB p50 ms | c1 added TTFB ms | added ÷ ref | c1 total p50 ms | c64 TTFB p50 ms | "
              "c64 total p50 ms | c64 streams/s | CPU µs/stream (c64) |", "|---|---|---|---|---|---|---|---|---|"]
    ref_ttfb = added(r, "ref", "stream_seq", "ttfb_us", "p50")
    for s in systems:
        a = added(r, s, "stream_seq", "ttfb_us", "p50")
        lines.append(f"| {s} | {_f(_ms(med(r, s, 'stream_seq', 'ttfb_us', 'p50')), 3)} | {_f(a, 3)} | "
                     f"{_ratio(a, ref_ttfb)} | {_f(_ms(med(r, s, 'stream_seq', 'latency_us', 'p50')))} | "
                     f"{_f(_ms(med(r, s, 'stream_c64', 'ttfb_us', 'p50')))} | "
                     f"{_f(_ms(med(r, s, 'stream_c64', 'latency_us', 'p50')))} | "
                     f"{_f(med(r, s, 'stream_c64', 'rps'), 0)} | {_f(med(r, s, 'stream_c64', 'cpu_us_per_req'), 0)} |")

    lines += ["", "### Codex-sized Responses request through passthrough (c=1, non-streaming)", "",
              "| system | 2 KB p50 ms | 50 KB (30 items, tools) p50 ms | added 2 KB ms | added 50 KB ms | "
              "50 KB − 2 KB added ms |", "|---|---|---|---|---|---|"]
    for s in systems:
        a2, a50 = added(r, s, "responses_2k", "latency_us", "p50"), added(r, s, "responses_50k", "latency_us", "p50")
        diff = None if a2 is None or a50 is None else a50 - a2
        lines.append(f"| {s} | {_f(_ms(med(r, s, 'responses_2k', 'latency_us', 'p50')), 3)} | "
                     f"{_f(_ms(med(r, s, 'responses_50k', 'latency_us', 'p50')), 3)} | {_f(a2, 3)} | {_f(a50, 3)} | "
                     f"{_f(diff, 3)} |")

    if "ws_session" in r:
        lines += ["", *ws_section(r["ws_session"])]

    lines += ["", "### Start-up and memory", "", "| system | cold start to first 200 ms | RSS after the load MB |",
              "|---|---|---|"]
    for s in systems:
        cs = [v for v in r["cold_start_ms"].get(s, []) if v is not None]
        rss = [v for v in r["rss_after_mb"].get(s, []) if v is not None]
        lines.append(f"| {s} | {_f(statistics.median(cs), 0) if cs else '–'} | "
                     f"{_f(statistics.median(rss), 1) if rss else '–'} |")
    if "rss_100k" in r:
        x = r["rss_100k"]
        lines += ["", f"lockgate RSS after {x['requests']} requests (logging on): **{x['rss_mb']:.1f} MB** "
                      f"({x['errors']} errors)."]

    if "ingest_e2e" in r or "ingest_writer" in r:
        lines += ["", "### Log ingest", ""]
        if "ingest_e2e" in r:
            e = r["ingest_e2e"]
            lines.append(f"- {e['requests']} requests through lockgate (c=64) → **{e['rows']} rows** in SQLite; "
                         f"sent in {e['send_s']:.1f} s, all rows visible after {e['rows_visible_s']:.1f} s.")
        if "ingest_writer" in r:
            w = r["ingest_writer"]
            lines.append(f"- Batch writer alone: {w['records']} records (2 KB request body, usage-bearing SSE "
                         f"event) → **{w['rows_per_s']:.0f} rows/s**, {w['submit_us_per_record']:.1f} µs per "
                         f"`submit()` on the request path, {w['lost']} lost, {w['spooled']} spooled.")
    if "stats" in r:
        lines += ["", *stats_section(r["stats"])]
    lines += ["", "### Against the peers", "", targets(r)]
    return "\n".join(lines) + "\n"


def ws_section(w: dict[str, Any]) -> list[str]:
    """bench/ws_session.py: a chained Codex-like session over the Responses WebSocket."""
    names = {"direct": "direct (client socket to the upstream)", "lockgate-ws": "lockgate → upstream socket",
             "lockgate": "lockgate → upstream over HTTPS"}
    d = w["systems"]["direct"]
    lines = [f"### Codex over the Responses WebSocket ({w['turns']} chained tool turns per socket, "
             f"{w['sessions']} sockets × {w['rounds']} rounds)", "",
             "| system | turn p50 ms | turn p90 ms | last 10 turns p50 ms | added p50 ms | upstream KB per turn | "
             "CPU µs per turn |", "|---|---|---|---|---|---|---|"]
    for s, label in names.items():
        x = w["systems"].get(s)
        if x is None:
            continue
        lines.append(f"| {label} | {_f(x['p50_ms'], 3)} | {_f(x['p90_ms'], 3)} | {_f(x['late_p50_ms'], 3)} | "
                     f"{_f(x['p50_ms'] - d['p50_ms'], 3)} | {_f(x['upstream_bytes_per_turn'] / 1000, 1)} | "
                     f"{_f(x['cpu_us_per_turn'], 0)} |")
    return lines


def stats_section(st: dict[str, Any]) -> list[str]:
    """The stats benchmark: query latency over the generated log, the fold and retention."""
    g, ret = st["generate"], st["retention"]
    lines = [f"### Stats over {st['rows']:,} logged requests (SQLite)", "",
             f"{st['rows']:,} generated rows over 30 days ({g['total_s']:.1f} s to generate, {g['db_mb']:.0f} MB), "
             f"folded into the rollup at {st['fold_us_per_row']:.1f} µs per row, plus {st['tail_rows']:,} rows not "
             f"folded yet; {st['repeats']} runs per query. The target (≤ {st['target_ms']:.0f} ms p95) applies to "
             "the queries the rollup covers; the last rows read log rows only (no rollup series for that "
             "combination).", "",
             "| query | p50 ms | p95 ms | rollup rows read | raw rows read |", "|---|---|---|---|---|"]
    for q in st["queries"]:
        lines.append(f"| {q['query']} | {q['p50_ms']:.1f} | {q['p95_ms']:.1f} | {q['rollup_rows']:,} | "
                     f"{q['raw_rows']:,} |")
    lines += ["", f"Retention on the same table: {ret['rows_deleted']:,} rows and {ret['bodies_cleared']:,} bodies in "
                  f"{ret['batches']} batches of {ret['batch_rows']} in {ret['seconds']:.1f} s; write lock held "
                  f"p50 {ret['p50_lock_ms']:.1f} ms, p99 {ret['p99_lock_ms']:.1f} ms, longest "
                  f"**{ret['longest_lock_ms']:.1f} ms**."]
    return lines


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000


def targets(r: dict[str, Any]) -> str:
    rows = ["| target | measured | met |", "|---|---|---|"]

    def row(name: str, value: float | None, ok: bool | None, fmt: str = "{:.2f}") -> None:
        rows.append(f"| {name} | {'–' if value is None else fmt.format(value)} | "
                    f"{'–' if ok is None else ('yes' if ok else '**no**')} |")

    for q in ("p50", "p99"):
        lg, ref = added(r, "lockgate", "seq", "latency_us", q), added(r, "ref", "seq", "latency_us", q)
        ratio = None if lg is None or ref is None or ref <= 0 else lg / ref
        row(f"added latency {q}, lockgate ÷ reference proxy (≤ 1.0)", ratio, None if ratio is None else ratio <= 1.0)
        for peer, factor in (("portkey", 3), ("litellm", 15)):
            p = added(r, peer, "seq", "latency_us", q)
            x = None if lg is None or p is None or lg <= 0 else p / lg
            row(f"added latency {q}: {peer} ÷ lockgate (≥ {factor})", x, None if x is None else x >= factor)
    cpu, ref_cpu = med(r, "lockgate", "c64", "cpu_us_per_req"), med(r, "ref", "c64", "cpu_us_per_req")
    x = None if cpu is None or not ref_cpu else cpu / ref_cpu
    row("CPU per request, lockgate ÷ reference proxy (≤ 1.0)", x, None if x is None else x <= 1.0)
    for lg_name in ("lockgate", "lockgate-2w"):
        for peer, factor in (("litellm", 10), ("portkey", 3)):
            a, b = med(r, lg_name, "c64", "rps"), med(r, peer, "c64", "rps")
            x = None if a is None or not b else a / b
            row(f"c64 throughput: {lg_name} ÷ {peer} (≥ {factor})", x, None if x is None else x >= factor)
    a2, a50 = added(r, "lockgate", "responses_2k", "latency_us", "p50"), added(
        r, "lockgate", "responses_50k", "latency_us", "p50")
    d = None if a2 is None or a50 is None else a50 - a2
    row("50 KB − 2 KB added latency, ms (≤ 0.5)", d, None if d is None else d <= 0.5, "{:.3f}")
    lg, ref = added(r, "lockgate", "stream_seq", "ttfb_us", "p50"), added(r, "ref", "stream_seq", "ttfb_us", "p50")
    x = None if lg is None or ref is None or ref <= 0 else lg / ref
    row("streaming added TTFB, lockgate ÷ reference proxy (≤ 1.0)", x, None if x is None else x <= 1.0)
    if "rss_100k" in r:
        v = r["rss_100k"]["rss_mb"]
        row("RSS after 100k requests, MB (≤ 80)", v, v <= 80, "{:.1f}")
    cs = [v for v in r["cold_start_ms"].get("lockgate", []) if v is not None]
    if cs:
        v = statistics.median(cs)
        row("cold start to first 200, ms (≤ 500)", v, v <= 500, "{:.0f}")
    if "stats" in r:
        st = r["stats"]
        v = st["p95_ms_worst"]
        row(f"stats over {st['rows']:,} rows, slowest query p95, ms (≤ {st['target_ms']:.0f})", v,
            v <= st["target_ms"], "{:.1f}")
    return "\n".join(rows)


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [("seq", 1), ("c8", 8), ("c32", 32), ("c64", 64)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for s in _systems(r):
        pts = [(c, lat, rps) for name, c in levels
               if (lat := med(r, s, name, "latency_us", "p50")) is not None
               and (rps := med(r, s, name, "rps")) is not None]
        if len(pts) < 2:
            continue
        ax1.plot([p[0] for p in pts], [p[1] / 1000 for p in pts], marker="o", label=s)
        ax2.plot([p[0] for p in pts], [p[2] for p in pts], marker="o", label=s)
    ax1.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="p50 latency (ms)",
            title="Latency vs load (non-streaming chat)")
    ax2.set(xscale="log", xlabel="concurrent clients", ylabel="requests/s", title="Throughput vs load")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xticks([1, 8, 32, 64], ["1", "8", "32", "64"])
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_docs(r: dict[str, Any], md: str, docs: Path) -> None:
    chart(r, docs / "benchmarks.png")
    head = (docs / "benchmarks.head.md").read_text() if (docs / "benchmarks.head.md").exists() else ""
    (docs / "benchmarks.md").write_text(head + "\n## Latest full run\n\n" + md +
                                        "\n![latency and throughput vs load](benchmarks.png)\n")


def check_quick(r: dict[str, Any]) -> None:
    """The CI smoke test: every system answered, nothing failed, every lockgate request became a row."""
    problems = []
    for s, loads in r["runs"].items():
        for load, runs in loads.items():
            for run in runs:
                if run["requests"] <= 0 or run["errors"] or run["non_2xx"]:
                    problems.append(f"{s}/{load}: {run['requests']} requests, {run['errors']} errors, "
                                    f"{run['non_2xx']} non-2xx")
    e = r.get("ingest_e2e")
    if e and e["rows"] != e["requests"]:
        problems.append(f"ingest: {e['requests']} requests but {e['rows']} rows")
    w = r.get("ingest_writer")
    if w and (w["lost"] or w["written"] != w["records"]):
        problems.append(f"writer: {w}")
    ws = r.get("ws_session", {}).get("systems", {})
    if ws and ws["lockgate-ws"]["upstream_bytes_per_turn"] >= ws["lockgate"]["upstream_bytes_per_turn"]:
        problems.append(f"ws_session: chained turns did not reach the upstream socket as new items only: {ws}")
    st = r.get("stats")
    if st and st["p95_ms_worst"] > st["target_ms"]:
        problems.append(f"stats: slowest query p95 {st['p95_ms_worst']:.1f} ms > {st['target_ms']:.0f} ms")
    n = sum(len(v) for v in r["runs"].values())
    print(f"bench smoke: {n - len(problems)} passed, {len(problems)} failed", flush=True)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
