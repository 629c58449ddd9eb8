"""The Codex Python SDK (PyPI `openai-codex`, with its bundled codex binary) pointed at lockgate.

Exactly as a user writes it: `CodexConfig(config_overrides=('openai_base_url="…"',))` and
`login_api_key(<lockgate key>)`, with the default approval mode. This is Codex's built-in
provider path: it tries the WebSocket on /v1/responses first; a gateway with WebSockets off
answers 426 and Codex continues over HTTPS SSE, so both transports are covered. The
scripted model (tests/fakes/scripted_model.py) drives the session through each upstream:
a shell command, an `apply_patch` edit, the final answer, then a resumed turn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.codex_env import MODEL, PROMPT, RESUME_PROMPT, UPSTREAMS, workdir
from tests.fakes import scripted_model as script
from tests.gateway_proc import GatewayProcess

openai_codex = pytest.importorskip("openai_codex")


@pytest.mark.parametrize("transport", ["sse", "ws"])
@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_python_sdk_session(upstream: str, transport: str, codex_gateway: Callable[..., GatewayProcess],
                            tmp_path: Path) -> None:
    gw = codex_gateway(upstream, websockets=transport == "ws")
    home, work = workdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env.update({"CODEX_HOME": str(home), "HOME": str(home)})
    since = time.time()
    config = openai_codex.CodexConfig(config_overrides=(f'openai_base_url="{gw.url}"',), env=env, cwd=str(work))
    with openai_codex.Codex(config=config) as codex:
        codex.login_api_key(gw.key)  # the SDK ignores CODEX_API_KEY
        thread = codex.thread_start(model=MODEL, sandbox=openai_codex.Sandbox.workspace_write, cwd=str(work))
        first = thread.run(PROMPT)
        assert first.status.value == "completed" and first.error is None, first
        assert first.final_response == script.FINAL
        assert (work / "ran.txt").read_text(encoding="utf-8") == f"{script.MARK}\n"
        assert (work / "notes.txt").read_text(encoding="utf-8") == "status: final\n"
        assert (work / "added.txt").read_text(encoding="utf-8") == "added by the agent\n"
        assert first.usage is not None and first.usage.last.input_tokens > 0
        again = codex.thread_resume(thread.id).run(RESUME_PROMPT)
        assert again.status.value == "completed" and again.final_response == script.RESUMED
    time.sleep(0.5)  # the batch writer stores rows every 50 ms here
    rows = [r for r in gw.rows(path="/v1/responses") if r["ts"] >= since and r["model_requested"] == MODEL]
    up = UPSTREAMS[upstream]
    assert [(r["status"], r["provider"], r["provider_api"]) for r in rows] == [(200, up.provider, up.provider_api)] * 4
    assert all(bool(r["translated"]) is (upstream != "openai-responses") for r in rows)
