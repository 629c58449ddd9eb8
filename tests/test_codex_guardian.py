"""Codex's auto review ("guardian") running for real through lockgate.

The real Codex (Python SDK `openai-codex` 0.163 with its bundled binary, default approval mode
`auto_review`; and `codex exec` 0.169 with `approvals_reviewer = "auto_review"`) runs a turn in a
workspace-write sandbox where `/tmp` is not writable. The scripted agent
(tests/fakes/guardian_script.py) writes to (or removes) a file outside the workspace: the sandbox
refuses, the agent asks again with `sandbox_permissions: "require_escalated"`, Codex sends that
approval request to its guardian sub-agent, and the guardian's own model call goes through
lockgate to the same scripted model, which answers with the review JSON Codex parses.

Checked: the effect on disk (written only when approved), what the agent was told, and lockgate's
log: the guardian's call in the parent thread's session under `/guardian-<its thread>/turn-<its
turn>`, next to the parent's `/turn-<turn>`, with the slug Codex asked for, routed by its alias.
Which slug that is depends on Codex (codex-rs `select_review_model`): `codex-auto-review` for a
custom provider, `gpt-5.6-luna` when logged in with an API key (the SDK's `login_api_key`), and the
parent's own model when the preferred slug is not in the model list Codex has (`codex exec`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.codex_env import MODEL, UPSTREAMS, workdir
from tests.fakes import guardian_script as g
from tests.fakes.scripted_model import ScriptedModel
from tests.gateway_proc import GatewayProcess
from tests.test_codex_cli import codex, codex_home, explain, needs_codex

openai_codex = pytest.importorskip("openai_codex")

KEY_ENV = "LOCKGATE_GUARDIAN_KEY"
# /tmp holds the test's directories: taking it out of the writable roots leaves only the
# workspace writable, so the sandbox really refuses the path outside it.
SANDBOX = ("sandbox_workspace_write.exclude_slash_tmp=true", "sandbox_workspace_write.exclude_tmpdir_env_var=true")
SANDBOX_REFUSED = "Read-only file system"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
GUARDIAN_PATH = re.compile(f"^/guardian-({UUID})/turn-({UUID})$")


def _sdk_turn(gw: GatewayProcess, tmp: Path, ask: str, custom_provider: bool) -> tuple[Any, str]:
    """One turn of a new SDK thread: (its TurnResult, the thread id). A custom provider (its key
    in the env var it names) or the built-in one with `openai_base_url` and `login_api_key`."""
    home, work = workdir(tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env.update({"CODEX_HOME": str(home), "HOME": str(home), KEY_ENV: gw.key})
    provider = ('model_providers.lockgate.name="lockgate"', f'model_providers.lockgate.base_url="{gw.url}"',
                f'model_providers.lockgate.env_key="{KEY_ENV}"', 'model_providers.lockgate.wire_api="responses"',
                'model_providers.lockgate.supports_websockets=true') if custom_provider else (
                    f'openai_base_url="{gw.url}"',)
    config = openai_codex.CodexConfig(config_overrides=(*provider, *SANDBOX), env=env, cwd=str(work))
    with openai_codex.Codex(config=config) as client:
        if not custom_provider:
            client.login_api_key(gw.key)  # an API-key login: the guardian then asks for gpt-5.6-luna
        thread = client.thread_start(model=MODEL, sandbox=openai_codex.Sandbox.workspace_write, cwd=str(work),
                                     model_provider="lockgate" if custom_provider else None)
        result = thread.run(ask)  # approval_mode: the SDK's default, auto_review
    assert result.status.value == "completed" and result.error is None, result
    return result, thread.id


def _outside(tmp: Path) -> Path:
    path = tmp / "outside"
    path.mkdir()
    return path / "greeting.txt"


def _session_rows(gw: GatewayProcess, thread: str, n: int) -> list[dict[str, Any]]:
    """The session's rows once the batch writer has stored `n` (it flushes every 50 ms here)."""
    deadline = time.monotonic() + 10
    while len(rows := gw.rows(session_id=thread)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return rows


def _split(rows: list[dict[str, Any]], review_slug: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the parent thread's model calls, the guardian's one call)."""
    main = [r for r in rows if not str(r["session_path"]).startswith("/guardian-")]
    guardian = [r for r in rows if str(r["session_path"]).startswith("/guardian-")]
    assert len(guardian) == 1 and len(main) == 3, [(r["model_requested"], r["session_path"]) for r in rows]
    assert {r["model_requested"] for r in main} == {MODEL} and guardian[0]["model_requested"] == review_slug
    return main, guardian[0]


def _check_log(gw: GatewayProcess, upstream: str, thread: str, review_slug: str) -> tuple[str, str]:
    """Every call logged in the thread's session, the guardian's routed by its alias; returns
    (the guardian's thread id, the parent's turn id)."""
    main, review = _split(_session_rows(gw, thread, 4), review_slug)
    up = UPSTREAMS[upstream]
    provider, model = (up.alias or f"{up.provider}/{MODEL}").split("/", 1)
    for r in [*main, review]:
        assert (r["status"], r["provider"], r["provider_api"], bool(r["translated"])) == (
            200, provider, up.provider_api, upstream != "openai-responses"), r
    assert review["model_resolved"] == model
    turns = {r["session_path"] for r in main}
    assert len(turns) == 1 and re.fullmatch(f"/turn-{UUID}", next(iter(turns))), turns
    parent_turn = next(iter(turns))[len("/turn-"):]
    found = GUARDIAN_PATH.match(review["session_path"])
    assert found and found[1] != thread and found[2] != parent_turn, review["session_path"]
    # The row is the guardian's review request: Codex's prompt and its JSON contract, as sent.
    sent = gw.bodies(review["id"])["request_body"]
    assert g.REVIEW_ASK in sent and '"codex_output_schema"' in sent
    # The session tree (GET /api/sessions/<thread>): the guardian next to the parent's turn.
    resp = httpx.get(f"{gw.root}/api/sessions/{thread}", headers={"authorization": f"Bearer {gw.key}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    root = resp.json()["root"]
    children = {c["name"]: c for c in root["children"]}
    assert set(children) == {f"turn-{parent_turn}", f"guardian-{found[1]}"}
    assert children[f"turn-{parent_turn}"]["own"]["requests"] == 3
    node = children[f"guardian-{found[1]}"]["children"]
    assert [(c["name"], c["own"]["requests"], c["requests"][0]["model_requested"]) for c in node] == [
        (f"turn-{found[2]}", 1, review_slug)]
    return found[1], parent_turn


def _check_headers(scripted: ScriptedModel, thread: str, guardian: str, parent_turn: str) -> None:
    """On passthrough the scripted upstream saw Codex's own headers: the ids in the path are them."""
    seen = [q.headers for q in scripted.requests if q.headers.get("x-codex-parent-thread-id") == thread]
    assert len(seen) == 1 and seen[0]["x-openai-subagent"] == "guardian" and seen[0]["thread-id"] == guardian
    meta = orjson.loads(seen[0]["x-codex-turn-metadata"])
    assert (meta["session_id"], meta["parent_turn_id"], meta["subagent_kind"]) == (thread, parent_turn, "guardian")


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_guardian_approves_and_the_command_runs_unsandboxed(
        upstream: str, codex_gateway: Callable[..., GatewayProcess], scripted: ScriptedModel, tmp_path: Path) -> None:
    gw = codex_gateway(upstream)
    target = _outside(tmp_path)
    result, thread = _sdk_turn(gw, tmp_path, f"{g.ESCALATE_ASK}{target}", custom_provider=True)
    # The sandbox refused the first try; the approved escalation wrote the file.
    assert target.read_text(encoding="utf-8") == f"{g.GREETING}\n"
    assert result.final_response.startswith(g.APPROVED) and SANDBOX_REFUSED in result.final_response, result
    guardian, parent_turn = _check_log(gw, upstream, thread, "codex-auto-review")
    if upstream == "openai-responses":
        _check_headers(scripted, thread, guardian, parent_turn)


@pytest.mark.parametrize("upstream", ["openai-responses", "anthropic"])
def test_guardian_denies_and_the_agent_is_told(
        upstream: str, codex_gateway: Callable[..., GatewayProcess], tmp_path: Path) -> None:
    gw = codex_gateway(upstream)
    target = _outside(tmp_path)
    target.write_text("keep me\n", encoding="utf-8")
    result, thread = _sdk_turn(gw, tmp_path, f"{g.REMOVE_ASK}{target}", custom_provider=True)
    assert target.read_text(encoding="utf-8") == "keep me\n"  # neither the sandbox nor the review let it go
    # The agent's tool result carried the reviewer's rationale (the script quotes its results).
    assert result.final_response.startswith(g.BLOCKED) and g.DENY_RATIONALE in result.final_response, result
    _check_log(gw, upstream, thread, "codex-auto-review")


def test_guardian_slug_after_an_api_key_login(codex_gateway: Callable[..., GatewayProcess], tmp_path: Path) -> None:
    """The built-in provider logged in with an API key: the guardian asks for `gpt-5.6-luna`, which
    without its alias would go wherever `gpt-*` goes (here OpenAI, not the Claude the thread runs on)."""
    gw = codex_gateway("anthropic")
    target = _outside(tmp_path)
    result, thread = _sdk_turn(gw, tmp_path, f"{g.ESCALATE_ASK}{target}", custom_provider=False)
    assert target.read_text(encoding="utf-8") == f"{g.GREETING}\n", result
    _check_log(gw, "anthropic", thread, "gpt-5.6-luna")


@needs_codex
def test_codex_exec_guardian_asks_for_the_parent_model(
        codex_gateway: Callable[..., GatewayProcess], tmp_path: Path) -> None:
    """`codex exec` 0.169 with auto review turned on (path a, HTTPS SSE, a chat-only host): the
    same review, but its call asks for the thread's own model (codex-rs falls back to it when the
    review slug is not in the model list it holds) and offers the reviewer read-only tools as plain
    functions (`exec_command`, `write_stdin`, `view_image`) instead of an `additional_tools` item."""
    gw = codex_gateway("chat-only", websockets=False)
    home, work = codex_home(tmp_path, gw), tmp_path / "work"
    work.mkdir()
    config = home / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'approval_policy = "never"', 'approval_policy = "on-request"\napprovals_reviewer = "auto_review"'),
        encoding="utf-8")
    target = _outside(tmp_path)
    run = codex(home, work, gw.key, *(a for s in SANDBOX for a in ("-c", s)), f"{g.ESCALATE_ASK}{target}")
    assert run.rc == 0 and not run.errors(), explain(run, gw)
    assert target.read_text(encoding="utf-8") == f"{g.GREETING}\n", explain(run, gw)
    assert run.last.startswith(g.APPROVED) and SANDBOX_REFUSED in run.last, explain(run, gw)
    thread = next(e["thread_id"] for e in run.events if e.get("type") == "thread.started")
    _check_log(gw, "chat-only", thread, MODEL)
    review = next(r for r in gw.rows(session_id=thread) if str(r["session_path"]).startswith("/guardian-"))
    sent = orjson.loads(gw.bodies(review["id"])["request_body"])
    assert [t["name"] for t in sent["tools"]] == ["exec_command", "write_stdin", "view_image"]
