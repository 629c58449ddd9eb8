"""A Codex-like session over the Responses WebSocket: direct to the upstream, and through lockgate
to an upstream socket (`websockets = true`, OpenAI's case) or over HTTPS (every other provider).

Each session is one socket and `turns` chained tool turns, as Codex sends them: the first with
the whole input (a ~20 KB developer message, ~9 KB of tools), every later one with only the
tool's output (2 KB) after `previous_response_id`. The upstream (bench/ws_mock.py) answers each
turn with an encrypted reasoning item and a function call. Measured per system: the time from
sending a turn to its `response.completed`, what reached the upstream per turn, and lockgate's
CPU per turn. No peer gateway serves this mode (docs/benchmarks.md), so the baseline is the
direct socket.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
import orjson
from websockets.sync.client import connect

from bench.systems import ROOT, System, start_system

__all__ = ["run_ws_session"]

BETA = "responses_websockets=2026-02-06"
SYSTEMS = ("direct", "lockgate-ws", "lockgate")  # lockgate: the upstream over HTTPS
_TOOLS = [{"type": "function", "name": f"tool_{i}", "description": "d" * 700,
           "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}} for i in range(12)]
_DEVELOPER = {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "x" * 20_000}]}
_USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix the failing test"}]}


def _start_mock() -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "bench.ws_mock"], cwd=ROOT,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("LISTENING"):
        raise RuntimeError(f"ws mock did not start: {line!r}")
    return proc, f"http://127.0.0.1:{line.split()[1]}"


def _session(system: System, turns: int) -> list[float]:
    """One socket, `turns` chained turns; each turn's milliseconds to response.completed."""
    url = system.base.replace("http://", "ws://", 1) + "/v1/responses"
    base = {"type": "response.create", "model": system.model, "stream": True, "tools": _TOOLS, "tool_choice": "auto",
            "parallel_tool_calls": True, "reasoning": {"effort": "medium"}, "store": False,
            "include": ["reasoning.encrypted_content"], "prompt_cache_key": "bench"}
    out: list[float] = []
    prev: str | None = None
    call_id = ""
    with connect(url, additional_headers={**system.headers, "openai-beta": BETA}, max_size=None,
                 open_timeout=10) as ws:
        for turn in range(turns):
            if prev is None:
                frame = {**base, "input": [_DEVELOPER, _USER]}
            else:
                output = {"type": "function_call_output", "call_id": call_id, "output": f"turn {turn} " + "o" * 2000}
                frame = {**base, "previous_response_id": prev, "input": [output]}
            data = orjson.dumps(frame).decode()
            t0 = time.perf_counter()
            ws.send(data)
            while True:
                event = orjson.loads(ws.recv(timeout=30))
                if event["type"] in ("response.completed", "response.failed", "error"):
                    break
            out.append((time.perf_counter() - t0) * 1000)
            if event["type"] != "response.completed":
                raise RuntimeError(f"{system.name}: turn {turn} ended with {event}")
            prev = event["response"]["id"]
            call_id = event["response"]["output"][-1]["call_id"]
    return out


def _received(mock_url: str) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(f"{mock_url}/stats", timeout=5).json()
    return stats


def run_ws_session(turns: int = 40, sessions: int = 5, rounds: int = 3) -> dict[str, Any]:
    """Per system: per-turn latency (all turns, and the last ten), upstream bytes and CPU per turn."""
    mock, mock_url = _start_mock()
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})  # the client shares CPU 0 with the upstream, as the load generator does
    raw: dict[str, dict[str, list[float]]] = {s: {"all": [], "late": [], "bytes": [], "cpu_us": []} for s in SYSTEMS}
    try:
        for rnd in range(rounds):
            order = SYSTEMS[rnd % len(SYSTEMS):] + SYSTEMS[:rnd % len(SYSTEMS)]
            for name in order:
                system = start_system(name, mock_url)
                try:
                    _session(system, 3)  # warm-up: imports, first connections
                    before, cpu0 = _received(mock_url), system.cpu_seconds()
                    for _ in range(sessions):
                        lat = _session(system, turns)
                        raw[name]["all"] += lat
                        raw[name]["late"] += lat[-10:]
                    after = _received(mock_url)
                    n = sessions * turns
                    raw[name]["bytes"].append((after["bytes"] - before["bytes"]) / n)
                    if system.proc is not None:
                        raw[name]["cpu_us"].append((system.cpu_seconds() - cpu0) / n * 1e6)
                finally:
                    system.stop()
    finally:
        os.sched_setaffinity(0, affinity)
        mock.terminate()
    out: dict[str, Any] = {"turns": turns, "sessions": sessions, "rounds": rounds, "systems": {}}
    for name, r in raw.items():
        out["systems"][name] = {
            "p50_ms": statistics.median(r["all"]), "p90_ms": statistics.quantiles(r["all"], n=10)[-1],
            "late_p50_ms": statistics.median(r["late"]), "upstream_bytes_per_turn": statistics.median(r["bytes"]),
            "cpu_us_per_turn": statistics.median(r["cpu_us"]) if r["cpu_us"] else None}
    return out


if __name__ == "__main__":
    print(orjson.dumps(run_ws_session(), option=orjson.OPT_INDENT_2).decode())
