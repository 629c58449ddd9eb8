"""The Codex TypeScript SDK (npm `@openai/codex-sdk`, with its own pinned codex binary) pointed at lockgate.

Exactly as a user writes it: `new Codex({ baseUrl, apiKey })`, `startThread()`, `run()`, then
`resumeThread(id)` and `runStreamed()` (tests/agents/ts_sdk_session.mjs). This is Codex's
built-in provider path (WebSocket first, then HTTPS). Upstreams: the conftest `tgw` fakes,
OpenAI passthrough and three translated providers; the fakes call the first offered tool,
so each turn is an agent loop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway_proc import GatewayProcess

AGENTS = Path(__file__).parent / "agents"
SCRIPT = AGENTS / "ts_sdk_session.mjs"
SDK = AGENTS / "node_modules" / "@openai" / "codex-sdk"
MODELS = {"openai": "gpt-5-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash",
          "chat-only": "local-qwen3"}

pytestmark = pytest.mark.skipif(not SDK.exists() or shutil.which("node") is None,
                                reason="@openai/codex-sdk is not installed (make install-dev runs npm ci)")


@pytest.mark.parametrize("provider", list(MODELS))
def test_ts_sdk_run_resume_and_stream(tgw: GatewayProcess, tmp_path: Path, provider: str) -> None:
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(home), "LOCKGATE_URL": tgw.url,
           "LOCKGATE_KEY": tgw.key, "MODEL": MODELS[provider], "WORKDIR": str(work)}
    since = time.time()
    run = subprocess.run(["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, cwd=AGENTS)
    assert run.returncode == 0, run.stderr[-3000:]
    out: dict[str, Any] = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert out["threadId"] and out["first"]["final"] and out["second"]["final"]
    assert out["first"]["usage"]["input_tokens"] > 0
    # Codex's only complaint may be about model metadata for a slug it does not know.
    assert all("Model metadata" in e for e in out["first"]["errors"]), out["first"]["errors"]
    events = out["second"]["events"]
    assert events[0] == "thread.started" and "turn.completed" in events
    time.sleep(0.5)  # the batch writer stores rows every 50 ms here
    rows = [r for r in tgw.rows(path="/v1/responses") if r["ts"] >= since]
    assert len(rows) >= 2 and all(r["status"] == 200 for r in rows)
    assert {r["model_requested"] for r in rows} == {MODELS[provider]}
