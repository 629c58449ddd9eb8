"""Compaction forced in the real Codex CLI (`model_auto_compact_token_limit`), through lockgate.

Path a (custom provider): Codex compacts with an ordinary summarization request, which
works when usage is real. Path b (the built-in provider, as the SDKs run it): Codex sends a
`compaction_trigger` and needs exactly one `compaction` item back; for providers that are
not OpenAI lockgate makes it (formats/compaction.py) and expands it on the next request.

The limit is set from the session's own sizes, measured first: just above the second
request's input, so the context passes it once the shell command's output is in, and the
compacted context (the first request plus a summary) stays under it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.codex_env import PROMPT
from tests.fakes import scripted_model as script
from tests.gateway_proc import GatewayProcess
from tests.test_codex_cli import codex, codex_home, explain, needs_codex


def _session(gw: GatewayProcess, tmp: Path, client: str, *extra: str) -> tuple[list[dict[str, object]], str]:
    before = len(gw.rows())
    tmp.mkdir()
    home, work = codex_home(tmp, gw, client), tmp / "work"
    work.mkdir()
    (work / "notes.txt").write_text(script.SEED, encoding="utf-8")
    run = codex(home, work, gw.key, *extra, PROMPT)
    assert run.rc == 0 and run.last.strip() == script.FINAL, explain(run, gw)
    assert (work / "notes.txt").read_text(encoding="utf-8") == "status: final\n"
    rows = gw.wait_rows(before + 4 if extra else before + 3)[before:]
    return rows, run.last


@needs_codex
@pytest.mark.parametrize(("client", "upstream"), [
    ("a-sse", "openai-responses"), ("a-sse", "anthropic"), ("a-sse", "chat-only"),
    ("b-ws", "anthropic"), ("b-ws", "chat-only"), ("b-ws", "gemini")])
def test_forced_compaction_finishes_the_session(client: str, upstream: str,
                                                codex_gateway: Callable[..., GatewayProcess], tmp_path: Path) -> None:
    gw = codex_gateway(upstream, websockets=client.endswith("-ws"))
    plain, _ = _session(gw, tmp_path / "measure", client)
    sizes = [int(str(r["input_tokens"])) for r in plain]
    assert len(sizes) == 3 and sizes[0] < sizes[1] < sizes[2]
    limit = sizes[1] + 40
    rows, _ = _session(gw, tmp_path / "compact", client, "-c", f"model_auto_compact_token_limit={limit}")
    paths = [str(r["session_path"]) for r in rows]
    compactions = [r for r, p in zip(rows, paths, strict=True) if p.endswith("/compaction")]
    assert len(compactions) == 1, paths  # once, not in a loop
    assert all(r["status"] == 200 and int(str(r["input_tokens"])) > 0 for r in rows)
    if client.startswith("b-"):
        # Codex's compaction_trigger, answered by lockgate with one compaction item.
        body = gw.bodies(str(compactions[0]["id"]))
        assert b"compaction_trigger" in str(body["request_body"]).encode()
        assert '"type":"compaction"' in str(body["response_body"])
