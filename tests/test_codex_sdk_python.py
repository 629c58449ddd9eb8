"""The Codex Python SDK (PyPI `openai-codex`, with its bundled codex binary) pointed at lockgate.

Exactly as a user writes it: `CodexConfig(config_overrides=('openai_base_url="…"',))` and
`login_api_key(<lockgate key>)`. This is Codex's built-in provider path: it tries the
WebSocket on /v1/responses first, then HTTPS. The upstreams are the protocol-true fakes
(conftest `tgw`): OpenAI passthrough and three translated providers. The fakes call the
first offered tool when the last turn is the user's, so every turn here is a real agent
loop: a tool call that Codex executes in its sandbox, its output, then the final text.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_proc import GatewayProcess

openai_codex = pytest.importorskip("openai_codex")

MODELS = {"openai": "gpt-5-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash",
          "chat-only": "local-qwen3"}


@pytest.fixture
def codex_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env["CODEX_HOME"] = str(home)
    yield env, work


def _rows(gw: GatewayProcess, since: float) -> list[dict[str, Any]]:
    """This test's model calls, once the batch writer has stored them (it flushes every 50 ms here)."""
    time.sleep(0.5)
    return [r for r in gw.rows(path="/v1/responses") if r["ts"] >= since]


@pytest.mark.parametrize("provider", list(MODELS))
def test_python_sdk_thread_run_and_resume(tgw: GatewayProcess, codex_env: tuple[dict[str, str], Path],
                                          provider: str) -> None:
    env, work = codex_env
    since = time.time()
    config = openai_codex.CodexConfig(config_overrides=(f'openai_base_url="{tgw.url}"',), env=env, cwd=str(work))
    with openai_codex.Codex(config=config) as codex:
        codex.login_api_key(tgw.key)
        thread = codex.thread_start(model=MODELS[provider], sandbox=openai_codex.Sandbox.workspace_write,
                                    cwd=str(work))
        first = thread.run("Say hello")
        assert first.status.value == "completed" and first.error is None
        assert first.final_response
        assert first.usage is not None and first.usage.last.input_tokens > 0
        again = codex.thread_resume(thread.id).run("And once more")
        assert again.status.value == "completed" and again.final_response
    rows = _rows(tgw, since)
    assert len(rows) >= 2 and all(r["status"] == 200 for r in rows)
    assert {r["model_requested"] for r in rows} == {MODELS[provider]}
    assert all(bool(r["translated"]) is (provider != "openai") for r in rows)
    assert all(r["input_tokens"] and r["input_tokens"] > 0 for r in rows)
