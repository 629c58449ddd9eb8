"""The real Claude Code CLI (npm `@anthropic-ai/claude-code`, pinned) pointed at lockgate with ANTHROPIC_BASE_URL.

`claude -p` runs offline here (non-essential traffic off). Claude Code speaks Anthropic
Messages: to Anthropic it passes through; to an OpenAI-compatible chat-only host it is
translated. The fakes call the first offered tool when the last turn is the user's, so each
run is an agent loop: a tool call Claude Code executes (or refuses), its result, the answer.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway_proc import GatewayProcess

CLAUDE = Path(__file__).parent / "agents" / "node_modules" / ".bin" / "claude"

pytestmark = pytest.mark.skipif(not CLAUDE.exists() or shutil.which("node") is None,
                                reason="@anthropic-ai/claude-code is not installed (make install-dev runs npm ci)")


def _claude(gw: GatewayProcess, tmp: Path, model: str, prompt: str) -> dict[str, Any]:
    home, work = tmp / "home", tmp / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    env = {"PATH": str(Path(shutil.which("node") or "node").parent) + ":/usr/bin:/bin", "HOME": str(home),
           "ANTHROPIC_BASE_URL": gw.root, "ANTHROPIC_API_KEY": gw.key,
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1"}
    run = subprocess.run([str(CLAUDE), "-p", prompt, "--model", model, "--output-format", "json",
                          "--permission-mode", "acceptEdits"], env=env, cwd=work, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-2000:])
    result: dict[str, Any] = orjson.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(("model", "translated"), [("claude-sonnet-4-5", False), ("local-qwen3", True),
                                                   ("gemini-2.5-flash", True)])
def test_claude_code_print_mode(tgw: GatewayProcess, tmp_path: Path, model: str, translated: bool) -> None:
    since = time.time()
    result = _claude(tgw, tmp_path, model, "Say hello")
    assert result["type"] == "result" and result["is_error"] is False and result["terminal_reason"] == "completed"
    assert result["result"] and result["num_turns"] >= 1
    time.sleep(0.5)
    rows = [r for r in tgw.rows(path="/v1/messages") if r["ts"] >= since]
    assert rows and all(r["status"] == 200 for r in rows)
    assert {bool(r["translated"]) for r in rows} == {translated}
