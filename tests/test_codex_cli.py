"""The real Codex CLI (`codex exec`, npm @openai/codex, pinned in tests/agents) against lockgate.

Path a) of issue 7: a custom provider in an isolated CODEX_HOME's config.toml, HTTPS SSE
(`supports_websockets = false`). A scripted model (tests/fakes/scripted_model.py) drives one
agent session per upstream: a shell command, an `apply_patch` edit in the working directory,
a final answer, then `codex exec resume` adds a turn. Codex always asks for `gpt-5.5` (a slug
of its bundled catalog, so it offers its full tool set); each upstream has its own gateway,
where an alias sends that slug to the provider's scripted model (the OpenAI cell passes it
through as it is).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.codex_env import MODEL, PROMPT, RESUME_PROMPT, UPSTREAMS
from tests.fakes import scripted_model as script
from tests.fakes.scripted_model import ScriptedModel
from tests.gateway_proc import GatewayProcess

AGENTS = Path(__file__).parent / "agents" / "node_modules"
CODEX = AGENTS / ".bin" / "codex"
NATIVE = sorted(AGENTS.glob("@openai/codex-*/vendor/*/bin/codex"))  # the platform package's binary

needs_codex = pytest.mark.skipif(
    not (CODEX.exists() and NATIVE),
    reason="Codex CLI not installed: `make install-dev` runs `npm ci` in tests/agents (needs node and npm)")
GOLDEN = Path(__file__).parent / "golden" / "openai_responses" / "codex"

KEY_ENV = "LOCKGATE_TEST_KEY"


def codex_home(tmp: Path, gw: GatewayProcess, client: str = "a-sse") -> Path:
    """An isolated CODEX_HOME. Path a: a custom provider (`supports_websockets` per transport).
    Path b: the built-in provider with `openai_base_url` (it always tries the WebSocket first;
    the transport is then chosen by the gateway: with WebSockets off it answers 426)."""
    home = tmp / "codex-home"
    home.mkdir()
    common = f"""
model = "{MODEL}"
approval_policy = "never"
sandbox_mode = "workspace-write"
check_for_update_on_startup = false
"""
    if client.startswith("b-"):
        (home / "config.toml").write_text(common + f'openai_base_url = "{gw.url}"\n', encoding="utf-8")
        return home
    # Retries off: Codex's defaults turn one gateway error into ~25 s of retrying (6 stream
    # attempts x 5 requests); here a failure should show at once.
    (home / "config.toml").write_text(common + f"""model_provider = "lockgate"

[model_providers.lockgate]
name = "lockgate"
base_url = "{gw.url}"
env_key = "{KEY_ENV}"
wire_api = "responses"
supports_websockets = {"true" if client == "a-ws" else "false"}
stream_max_retries = 0
request_max_retries = 0
""", encoding="utf-8")
    return home


@dataclass
class Run:
    rc: int
    events: list[dict[str, Any]]
    stderr: str
    last: str  # the final message, from -o

    def errors(self, websocket_refused: bool = False) -> list[str]:
        """Codex's ERROR log lines: it logs protocol trouble (an event it cannot place, a
        WebSocket it could not open) and carries on, so rc 0 alone proves too little. With
        `websocket_refused`, the one expected line (the 426 it falls back to HTTPS on) is not one."""
        return [line for line in self.stderr.splitlines() if re.search(r"\bERROR\b", line)
                and not (websocket_refused and "responses_websocket" in line)]

    def items(self, kind: str) -> list[dict[str, Any]]:
        return [e["item"] for e in self.events if e.get("type") == "item.completed" and e["item"].get("type") == kind]


def codex(home: Path, work: Path, key: str, *args: str) -> Run:
    out = home / "last.txt"
    out.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_", "LOCKGATE_"))}
    # CODEX_API_KEY: the key of the built-in provider (path b); KEY_ENV: the custom provider's (path a).
    env.update({"CODEX_HOME": str(home), "HOME": str(home), KEY_ENV: key, "CODEX_API_KEY": key, "RUST_LOG": "warn",
                "NO_COLOR": "1"})
    # exec's own options go before `resume` (the subcommand takes no -C).
    cmd = [str(CODEX), "exec", "--json", "--skip-git-repo-check", "-C", str(work), "-o", str(out), *args]
    # Its own process group: the npm launcher (node) runs the native binary as a child, and a
    # timeout must stop both.
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=50)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise AssertionError(f"codex exec timed out:\n{stderr.decode(errors='replace')[-3000:]}") from None
    events = [orjson.loads(line) for line in stdout.splitlines() if line.startswith(b"{")]
    return Run(proc.returncode, events, stderr.decode(errors="replace"),
               out.read_text(encoding="utf-8") if out.exists() else "")


def explain(run: Run, gw: GatewayProcess) -> str:
    return (f"codex rc={run.rc}\nstderr:\n{run.stderr[-3000:]}\nevents:\n{run.events[-6:]}\n"
            f"gateway:\n{gw.output()[-2000:]}")


CLIENTS = ["a-sse", "a-ws", "b-sse", "b-ws"]  # path a/b of issue 7 × HTTPS SSE / WebSocket


@needs_codex
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_codex_exec_session(upstream: str, client: str, codex_gateway: Callable[..., GatewayProcess],
                            scripted: ScriptedModel, tmp_path: Path) -> None:
    gw = codex_gateway(upstream, websockets=client.endswith("-ws"))
    before = len(gw.rows())
    scripted.clear()
    home, work = codex_home(tmp_path, gw, client), tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text(script.SEED, encoding="utf-8")

    refused = client == "b-sse"  # the built-in provider tries the WebSocket; this gateway answers 426
    first = codex(home, work, gw.key, PROMPT)
    assert first.rc == 0 and not first.errors(refused), explain(first, gw)
    # Turn 1: the shell command ran in the working directory, and Codex reported it.
    assert (work / "ran.txt").read_text(encoding="utf-8") == f"{script.MARK}\n"
    commands = first.items("command_execution")
    assert [c["exit_code"] for c in commands] == [0] and script.MARK in commands[0]["aggregated_output"]
    # Turn 2: the patch changed one file and added another, exactly as written.
    assert (work / "notes.txt").read_text(encoding="utf-8") == "status: final\n"
    assert (work / "added.txt").read_text(encoding="utf-8") == "added by the agent\n"
    assert [c["status"] for c in first.items("file_change")] == ["completed"]
    # Turn 3: the final text.
    assert first.last.strip() == script.FINAL, explain(first, gw)
    assert [m["text"] for m in first.items("agent_message")] == [script.FINAL]
    thread = next(e["thread_id"] for e in first.events if e.get("type") == "thread.started")

    again = codex(home, work, gw.key, "resume", thread, RESUME_PROMPT)
    assert again.rc == 0 and not again.errors(refused), explain(again, gw)
    assert again.last.strip() == script.RESUMED, explain(again, gw)
    assert next(e["thread_id"] for e in again.events if e.get("type") == "thread.started") == thread

    # lockgate logged every model call: 3 for the first run, 1 for the resume, all 200.
    rows = gw.wait_rows(before + 4)[before:]
    up = UPSTREAMS[upstream]
    assert [(r["path"], r["status"], r["api"], r["provider"], r["provider_api"], bool(r["translated"]))
            for r in rows] == [("/v1/responses", 200, "responses", up.provider, up.provider_api,
                                upstream != "openai-responses")] * 4, gw.output()[-2000:]
    assert all(r["stream"] and r["input_tokens"] and r["output_tokens"] for r in rows)
    assert all(r["model_requested"] == MODEL for r in rows)
    # One lockgate session per Codex thread, one path per turn (the resume is a turn of its own).
    assert {r["session_id"] for r in rows} == {thread}
    paths = [str(r["session_path"]) for r in rows]
    assert all(p.startswith("/turn-") for p in paths) and len(set(paths[:3])) == 1 and paths[3] != paths[0]
    if upstream == "openai-responses":
        assert_round_trip(scripted, over_socket=client.endswith("-ws"))


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_script_turn_one_without_streaming(upstream: str, codex_gateway: Callable[..., GatewayProcess]) -> None:
    """The JSON faces: Codex's captured first request, not streamed, gets the scripted shell call."""
    gw = codex_gateway(upstream)
    before = len(gw.rows())
    body = {**orjson.loads((GOLDEN / "exec_gpt55_req_1.json").read_bytes()), "stream": False}
    r = httpx.post(f"{gw.url}/responses", json=body, headers={"authorization": f"Bearer {gw.key}"}, timeout=20)
    assert r.status_code == 200, r.text
    calls = [it for it in r.json()["output"] if it["type"] == "function_call"]
    assert [(c["name"], orjson.loads(c["arguments"])) for c in calls] == [("exec_command", {"cmd": script.CMD})]
    rows = gw.wait_rows(before + 1)[before:]
    assert [(row["status"], bool(row["stream"]), row["provider_api"]) for row in rows] == [
        (200, False, UPSTREAMS[upstream].provider_api)]


def assert_round_trip(scripted: ScriptedModel, over_socket: bool) -> None:
    """On passthrough, Codex got the upstream's reasoning and call items unchanged (ids and
    encrypted_content) and sent them back the same way on every later call.

    Codex over a WebSocket reaches OpenAI over one too: one upstream socket per Codex run, the
    chained calls of a run sent as their new items after `previous_response_id`."""
    if over_socket:
        assert scripted.bodies("/v1/responses") == [], "WebSocket turns went over HTTPS"
        frames = scripted.socket.frames
        assert [f.connection for f in frames] == [0, 0, 0, 1]  # the first run's three calls, then the resume
        assert [bool(f.frame.get("previous_response_id")) for f in frames] == [False, True, True, False]
        for f in frames[1:3]:  # only what Codex added since: the tool's output
            assert [i["type"] for i in f.frame["input"]] in (["function_call_output"], ["custom_tool_call_output"])
        assert not any(f.frame.get("generate") is False for f in frames)  # warm-ups stay in lockgate
        assert all(u["openai-beta"].startswith("responses_websockets=") for u in scripted.socket.upgrades)
        bodies = [f.body for f in frames]
    else:
        bodies = scripted.bodies("/v1/responses")
    assert len(bodies) == 4
    echoed = {it.get("id"): it for it in bodies[-1]["input"] if isinstance(it, dict)}
    issued = scripted.issued
    assert len(issued) == 8  # a reasoning item and a call or a message per answer
    for item in issued[:-2]:  # all but the resume's answer come back in the resume's request
        back = echoed.get(item["id"])
        assert back is not None, f"{item['id']} not sent back"
        for k in ("type", "encrypted_content", "call_id", "name", "input", "arguments"):
            assert back.get(k) == item.get(k), (k, item, back)
