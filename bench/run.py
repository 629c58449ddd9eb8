"""`make bench`: lockgate against a direct call, a bare reference proxy, LiteLLM and Portkey.

Every system runs on the same mock upstream in the same run; rounds are interleaved
(systems rotate each round) and each number is the median of the rounds. Pinning: the
mock upstream and the load generator share CPU 0, the system under test gets CPU 1
(`lockgate-2w` gets CPUs 0-1 for its two workers).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import platform
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.ingest import writer_rows_per_second
from bench.scenarios import Load, chat_body, responses_body, run_exact, run_load
from bench.stats_bench import run_stats
from bench.systems import PEERS, ROOT, System, start_system
from bench.ws_session import run_ws_session

MOCK = ROOT / "bench" / ".build" / "mock_upstream"


def start_mock() -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(["taskset", "-c", "0", str(MOCK), "--port", "0", "--size", "1024", "--chunks", "20",
                             "--chunk-interval-ms", "1"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("LISTENING"):
        raise RuntimeError(f"mock did not start: {line!r}")
    return proc, f"http://127.0.0.1:{line.split()[1]}"


def loads(model: str, seconds: float, full: bool) -> list[Load]:
    chat, stream = chat_body(model, False), chat_body(model, True)
    out = [
        Load("seq", "/v1/chat/completions", chat, 1, seconds),
        Load("c64", "/v1/chat/completions", chat, 64, seconds),
        Load("stream_seq", "/v1/chat/completions", stream, 1, seconds, stream=True),
        Load("stream_c64", "/v1/chat/completions", stream, 64, seconds, stream=True),
        Load("responses_2k", "/v1/responses", responses_body(model, 2_000, 4), 1, seconds),
        Load("responses_50k", "/v1/responses", responses_body(model, 50_000, 30), 1, seconds),
    ]
    if full:
        # The mock reads latency and size from the model name (see mock_upstream.rs).
        big, slow = chat_body(model + "-size10k", False), chat_body(model + "-lat60", False)
        out += [Load("c8", "/v1/chat/completions", chat, 8, seconds),
                Load("c32", "/v1/chat/completions", chat, 32, seconds),
                Load("seq_10k", "/v1/chat/completions", big, 1, seconds),
                Load("c64_lat60", "/v1/chat/completions", slow, 64, seconds)]
    return out


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version(), "lockgate": version("lockgate"), "aiohttp": version("aiohttp"),
           "uvicorn": version("uvicorn")}
    litellm = PEERS / "litellm" / "bin" / "python"
    if litellm.exists():
        out["litellm"] = subprocess.run([str(litellm), "-c", "from importlib.metadata import version as v;"
                                         "print(v('litellm'))"], capture_output=True, text=True).stdout.strip()
    pk = PEERS / "portkey" / "node_modules" / "@portkey-ai" / "gateway" / "package.json"
    if pk.exists():
        out["portkey"] = json.loads(pk.read_text())["version"]
    return out


def machine() -> dict[str, Any]:
    import psutil

    return {"cores": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
            "cpu": platform.processor() or platform.machine(), "kernel": platform.release()}


def ingest_check(system: System, n: int) -> dict[str, Any]:
    """N requests through lockgate → N rows in its SQLite store, and how long the rows took."""
    db = str(system.extra["db"])
    # Tag this batch with its own session id so rows of earlier scenarios (still arriving, or
    # retried by the load generator) cannot be miscounted as ingest rows.
    tag = f"bench-ingest-{time.time_ns()}"
    tagged = dataclasses.replace(system, headers={**system.headers, "lockgate-session-id": tag})
    t0 = time.monotonic()
    res = run_exact(tagged, Load("ingest", "/v1/chat/completions", chat_body(system.model, False), 64, 0), n)
    sent = time.monotonic() - t0
    deadline = time.monotonic() + 60
    while _count(db, tag) < res["requests"] and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = _count(db, tag)
    return {"requests": res["requests"], "rows": rows, "send_s": sent, "rows_visible_s": time.monotonic() - t0}


def _count(db: str, session_id: str) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        row = conn.execute("SELECT count(*) FROM requests WHERE session_id = ?", (session_id,)).fetchone()
        return int(row[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="direct, reference proxy and lockgate only; < 2 min")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--systems", help="comma list, overrides the default set")
    ap.add_argument("--out", type=Path, help="results JSON (default bench/results/<mode>.json)")
    args = ap.parse_args()
    full = not args.quick
    subprocess.run(["bash", str(ROOT / "bench" / "native" / "build.sh")], check=True, stdout=subprocess.DEVNULL)
    names = args.systems.split(",") if args.systems else (
        ["direct", "ref", "lockgate", "lockgate-nolog", "lockgate-2w", "litellm", "portkey"] if full
        else ["direct", "ref", "lockgate"])
    if full and any(n in ("litellm", "portkey") for n in names):
        subprocess.run(["bash", str(ROOT / "bench" / "peers" / "install.sh")], check=True)
    rounds = args.rounds or (3 if full else 1)
    seconds = args.seconds or (4.0 if full else 1.0)
    mock, mock_url = start_mock()
    results: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "mode": "full" if full else "quick", "rounds": rounds, "seconds": seconds,
                               "machine": machine(), "versions": versions(), "runs": {}, "cold_start_ms": {},
                               "rss_after_mb": {}}
    try:
        for rnd in range(rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in order:
                print(f"round {rnd + 1}/{rounds}: {name}", file=sys.stderr, flush=True)
                system = start_system(name, mock_url)
                try:
                    results["cold_start_ms"].setdefault(name, []).append(system.cold_start_ms)
                    for load in loads(system.model, seconds, full):
                        if name == "lockgate-2w" and load.name not in ("c64", "stream_c64", "seq"):
                            continue
                        res = run_load(system, load, warmup=0.5 if full else 0.3)
                        results["runs"].setdefault(name, {}).setdefault(load.name, []).append(res)
                    results["rss_after_mb"].setdefault(name, []).append(system.rss_mb() if system.proc else None)
                    if name == "lockgate" and rnd == 0:
                        results["ingest_e2e"] = ingest_check(system, 20_000 if full else 2_000)
                finally:
                    system.stop()
        print("Codex session over the Responses WebSocket", file=sys.stderr, flush=True)
        results["ws_session"] = run_ws_session(40, 5, rounds) if full else run_ws_session(10, 1, 1)
        results["ingest_writer"] = writer_rows_per_second(50_000 if full else 5_000)
        print("stats over the generated log", file=sys.stderr, flush=True)
        results["stats"] = run_stats(1_000_000 if full else 100_000, 30 if full else 10)
        if full:
            results["rss_100k"] = rss_after_100k(mock_url)
    finally:
        mock.terminate()
    out = args.out or ROOT / "bench" / "results" / f"{results['mode']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    md = report.markdown(results)
    print(md)
    if full:
        report.write_docs(results, md, ROOT / "docs")
    report.check_quick(results) if not full else None


def rss_after_100k(mock_url: str) -> dict[str, Any]:
    """lockgate's RSS after 100k requests (logging on), the ≤ 80 MB target."""
    system = start_system("lockgate", mock_url)
    try:
        res = run_exact(system, Load("rss", "/v1/chat/completions", chat_body(system.model, False), 64, 0), 100_000)
        time.sleep(2)
        return {"requests": res["requests"], "errors": res["errors"], "rss_mb": system.rss_mb()}
    finally:
        system.stop()


if __name__ == "__main__":
    main()
