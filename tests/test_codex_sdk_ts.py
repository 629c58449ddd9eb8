"""The Codex TypeScript SDK (npm `@openai/codex-sdk`, with its own pinned codex binary) pointed at lockgate.

Exactly as a user writes it: `new Codex({ baseUrl, apiKey })`, `startThread()`, `run()`, then
`resumeThread(id)` and `runStreamed()` (tests/agents/ts_sdk_session.mjs). This is Codex's
built-in provider path: WebSocket first; a gateway with WebSockets off answers 426 and the
session continues over HTTPS SSE, so both transports are covered. The scripted model drives
the session through each upstream: a shell command, an `apply_patch` edit, the final answer,
then the resumed turn.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.codex_env import MODEL, PROMPT, RESUME_PROMPT, UPSTREAMS, workdir
from tests.fakes import scripted_model as script
from tests.gateway_proc import GatewayProcess

AGENTS = Path(__file__).parent / "agents"
SCRIPT = AGENTS / "ts_sdk_session.mjs"
SDK = AGENTS / "node_modules" / "@openai" / "codex-sdk"

pytestmark = pytest.mark.skipif(not SDK.exists() or shutil.which("node") is None,
                                reason="@openai/codex-sdk is not installed (make install-dev runs npm ci)")


@pytest.mark.parametrize("transport", ["sse", "ws"])
@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_ts_sdk_session(upstream: str, transport: str, codex_gateway: Callable[..., GatewayProcess],
                        tmp_path: Path) -> None:
    gw = codex_gateway(upstream, websockets=transport == "ws")
    home, work = workdir(tmp_path)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(home), "LOCKGATE_URL": gw.url,
           "LOCKGATE_KEY": gw.key, "MODEL": MODEL, "WORKDIR": str(work), "PROMPT": PROMPT,
           "RESUME_PROMPT": RESUME_PROMPT}
    since = time.time()
    run = subprocess.run(["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, cwd=AGENTS)
    assert run.returncode == 0, run.stderr[-3000:]
    out: dict[str, Any] = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert out["first"]["final"] == script.FINAL and out["second"]["final"] == script.RESUMED
    assert out["first"]["errors"] == [] and "command_execution" in out["first"]["items"]
    assert "file_change" in out["first"]["items"] and out["first"]["usage"]["input_tokens"] > 0
    assert (work / "ran.txt").read_text(encoding="utf-8") == f"{script.MARK}\n"
    assert (work / "notes.txt").read_text(encoding="utf-8") == "status: final\n"
    events = out["second"]["events"]
    assert events[0] == "thread.started" and events[-1] == "turn.completed"
    time.sleep(0.5)  # the batch writer stores rows every 50 ms here
    rows = [r for r in gw.rows(path="/v1/responses") if r["ts"] >= since]
    up = UPSTREAMS[upstream]
    assert [(r["status"], r["provider"], r["provider_api"]) for r in rows] == [(200, up.provider, up.provider_api)] * 4
