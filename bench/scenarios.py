"""Scenarios: each drives one system with the native load generator and returns numbers."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.systems import ROOT, System

LOADGEN = ROOT / "bench" / ".build" / "loadgen"


@dataclass(frozen=True)
class Load:
    name: str
    path: str  # /v1/chat/completions or /v1/responses
    body: bytes
    concurrency: int
    seconds: float
    stream: bool = False


def chat_body(model: str, stream: bool, pad: int = 0) -> bytes:
    text = "Say hello." + " please" * (pad // 7)
    return json.dumps({"model": model, "stream": stream,
                       "messages": [{"role": "system", "content": "You are terse."},
                                    {"role": "user", "content": text}]}).encode()


def responses_body(model: str, target_bytes: int, items: int) -> bytes:
    """A Codex-shaped Responses request: instructions, input items, tools, reasoning."""
    tools = [{"type": "function", "name": f"tool_{i}", "description": "Run a command in the workspace. " * 3,
              "parameters": {"type": "object", "properties": {"cmd": {"type": "string"},
                                                              "workdir": {"type": "string"}},
                             "required": ["cmd"]}, "strict": False} for i in range(6)]
    tools.append({"type": "custom", "name": "apply_patch", "description": "Edit files.",
                  "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}})
    body: dict[str, Any] = {"model": model, "stream": False, "instructions": "You are a coding agent.",
                            "input": [], "tools": tools, "tool_choice": "auto", "parallel_tool_calls": False,
                            "reasoning": {"effort": "medium"}, "store": False,
                            "include": ["reasoning.encrypted_content"], "prompt_cache_key": "bench-session"}
    base = len(json.dumps(body))
    per_item = max(10, (target_bytes - base) // max(items, 1) - 120)
    for i in range(items):
        role = "user" if i % 2 == 0 else "assistant"
        kind = "input_text" if role == "user" else "output_text"
        body["input"].append({"type": "message", "role": role,
                              "content": [{"type": kind, "text": ("x" * (per_item - 1) + str(i % 10))}]})
    return json.dumps(body).encode()


def run_load(system: System, load: Load, warmup: float = 0.5) -> dict[str, Any]:
    """One loadgen run; adds the system's CPU µs per request and RSS after the run."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(load.body)
        body_file = f.name
    out_file = body_file + ".out"
    cmd = ["taskset", "-c", "0", str(LOADGEN), "--url", system.base + load.path, "--method", "POST",
           "--body-file", body_file, "--concurrency", str(load.concurrency)]
    for k, v in system.headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if warmup:
        subprocess.run([*cmd, "--duration", str(warmup)], check=True, capture_output=True, timeout=120)
    cpu0 = system.cpu_seconds()
    t0 = time.monotonic()
    subprocess.run([*cmd, "--duration", str(load.seconds), "--out", out_file], check=True, capture_output=True,
                   timeout=load.seconds + 120)
    wall = time.monotonic() - t0
    cpu = system.cpu_seconds() - cpu0
    result: dict[str, Any] = json.loads(Path(out_file).read_text())
    Path(body_file).unlink(missing_ok=True)
    Path(out_file).unlink(missing_ok=True)
    n = max(int(result["requests"]), 1)
    result["cpu_us_per_req"] = cpu / n * 1e6 if system.proc is not None else None
    result["rss_mb"] = system.rss_mb() if system.proc is not None else None
    result["wall_s"] = wall
    return result


def run_exact(system: System, load: Load, requests: int) -> dict[str, Any]:
    """Exactly `requests` requests (no warm-up), for the log-ingest check."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(load.body)
        body_file = f.name
    cmd = ["taskset", "-c", "0", str(LOADGEN), "--url", system.base + load.path, "--method", "POST",
           "--body-file", body_file, "--concurrency", str(load.concurrency), "--requests", str(requests)]
    for k, v in system.headers.items():
        cmd += ["-H", f"{k}: {v}"]
    done = subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    Path(body_file).unlink(missing_ok=True)
    out: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return out
