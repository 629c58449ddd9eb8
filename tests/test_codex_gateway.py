"""Codex against a real gateway: threads become sessions, Codex slugs route through aliases, the model catalog.

Requests carry the headers Codex 0.169 sends (codex-protocol.md F3, F8) and captured Codex bodies
(tests/golden/openai_responses/codex/); the gateway runs in front of the fake providers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lockgate.observe.record import RequestMeta
from lockgate.server.headers import codex_session
from tests.conftest import UPSTREAM_KEY
from tests.fake_config import anthropic_table, chat_only_table
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_proc import GatewayProcess

GOLDEN = Path(__file__).parent / "golden" / "openai_responses" / "codex"
INSTRUCTIONS = "You are a careful coding agent behind lockgate."


@pytest.fixture(scope="module")
def cgw(gateway_factory: Callable[..., GatewayProcess], fake: FakeOpenAI, fakes: dict[str, Any],
        tmp_path_factory: pytest.TempPathFactory) -> GatewayProcess:
    prompt = tmp_path_factory.mktemp("codex") / "prompt.md"
    prompt.write_text(INSTRUCTIONS, encoding="utf-8")
    config = f"""
[log]
flush_interval = 0.05

[providers.openai]
base_url = "{fake.url}"
api_key_env = "FAKE_OPENAI_KEY"
apis = ["responses", "chat"]
models = ["gpt-4*", "fake-*"]

{anthropic_table(fakes)}
{chat_only_table(fakes['chat-only'].url, "FAKE_CHAT_KEY")}
[aliases]
"gpt-5.5" = "claude/claude-sonnet-4-5"
"gpt-5.6-sol" = "openai/gpt-4.1"
"codex-auto-review" = "local/local-reviewer"
codex-429 = "claude/fake-error-429"
codex-quota = "claude/fake-error-402"
codex-overloaded = "claude/fake-error-529"

[models."claude-sonnet-4-5"]
display_name = "Claude Sonnet 4.5"
context_window = 200000
reasoning_efforts = ["low", "medium", "high"]
instructions_file = "{prompt}"

[models."local-reviewer"]
context_window = 32000
reasoning_efforts = []
"""
    env = {"FAKE_OPENAI_KEY": UPSTREAM_KEY, "FAKE_ANTHROPIC_KEY": fakes["anthropic"].api_key,
           "FAKE_CHAT_KEY": fakes["chat-only"].api_key}
    return gateway_factory(config=config, env=env)


def _turn_meta(thread: str, turn: str, kind: str = "turn", **extra: str) -> str:
    meta = {"installation_id": "12606b5a-b8b1-42ee-bf98-504aa951c288", "session_id": thread, "thread_id": thread,
            "agent_name": "/root", "turn_id": turn, "window_id": f"{thread}:0", "window_number": 0,
            "request_kind": kind, "history_initialization": "new", "root_turn_id": turn, "thread_source": "user",
            "turn_trigger": "exec", "model": "gpt-5.5", "reasoning_effort": "medium", **extra}
    return orjson.dumps(meta).decode()


def _codex_headers(gw: GatewayProcess, thread: str, turn: str, kind: str = "turn") -> dict[str, str]:
    return {"authorization": f"Bearer {gw.key}", "accept": "text/event-stream", "content-type": "application/json",
            "originator": "codex_exec", "user-agent": "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm",
            "session-id": thread, "thread-id": thread, "x-client-request-id": thread,
            "x-codex-window-id": f"{thread}:0", "x-codex-beta-features": "remote_compaction_v2",
            "x-codex-turn-metadata": _turn_meta(thread, turn, kind)}


def _guardian_headers(gw: GatewayProcess, parent: str, own: str, turn: str) -> dict[str, str]:
    meta = orjson.loads(_turn_meta(own, turn))
    meta.update(session_id=parent, parent_thread_id=parent, subagent_kind="guardian",
                thread_source="guardian_review")
    return {"authorization": f"Bearer {gw.key}", "content-type": "application/json", "originator": "codex_python_sdk",
            "session-id": parent, "thread-id": own, "x-openai-subagent": "guardian",
            "x-codex-parent-thread-id": parent, "x-codex-turn-metadata": orjson.dumps(meta).decode()}


def _body(name: str, model: str) -> bytes:
    body = orjson.loads((GOLDEN / name).read_bytes())
    body.pop("type", None)  # WebSocket frames carry "type": "response.create"
    body.pop("generate", None)
    body.pop("previous_response_id", None)
    body["model"] = model
    body["stream"] = True
    return orjson.dumps(body)


def _post(gw: GatewayProcess, body: bytes, headers: dict[str, str]) -> httpx.Response:
    r = httpx.post(f"{gw.url}/responses", content=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert b"response.completed" in r.content
    return r


def _api(gw: GatewayProcess, path: str) -> Any:
    r = httpx.get(f"{gw.root}{path}", headers={"authorization": f"Bearer {gw.key}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _uuid7ish() -> str:
    return str(uuid.uuid4())


def _node(tree: dict[str, Any], path: str) -> dict[str, Any]:
    node = tree
    for seg in [s for s in path.split("/") if s]:
        node = next(c for c in node["children"] if c["name"] == seg)
    return node


def test_codex_thread_is_a_session_with_a_node_per_turn(cgw: GatewayProcess) -> None:
    thread, turn1, turn2, guardian, gturn = (_uuid7ish() for _ in range(5))
    ids = []
    # Turn 1: two model calls (tool call, then answer), on the passthrough and on a translated provider.
    for model in ("gpt-5.6-sol", "gpt-5.5"):
        r = _post(cgw, _body("exec_gpt55_req_1.json", model), _codex_headers(cgw, thread, turn1))
        ids.append(r.headers["lockgate-request-id"])
    # Turn 2 with a mid-turn compaction request, then the guardian reviewing in its own thread.
    ids.append(_post(cgw, _body("compaction_local_req.json", "gpt-5.5"),
                     _codex_headers(cgw, thread, turn2, "compaction")).headers["lockgate-request-id"])
    ids.append(_post(cgw, _body("exec_resume_req.json", "gpt-5.5"),
                     _codex_headers(cgw, thread, turn2)).headers["lockgate-request-id"])
    ids.append(_post(cgw, _body("sdk_py_ws_session_frame2.json", "codex-auto-review"),
                     _guardian_headers(cgw, thread, guardian, gturn)).headers["lockgate-request-id"])
    rows = [cgw.row(i) for i in ids]
    assert {r["session_id"] for r in rows} == {thread}
    assert [r["session_path"] for r in rows] == [
        f"/turn-{turn1}", f"/turn-{turn1}", f"/turn-{turn2}/compaction", f"/turn-{turn2}",
        f"/guardian-{guardian}/turn-{gturn}"]
    assert rows[0]["session_name"] == "codex_exec"
    assert [r["provider"] for r in rows] == ["openai", "claude", "claude", "claude", "local"]

    listed = [s for s in _api(cgw, "/api/sessions")["data"] if s["id"] == thread]
    assert len(listed) == 1 and listed[0]["requests"] == 5 and listed[0]["total_tokens"] > 0
    tree = _api(cgw, f"/api/sessions/{thread}")["root"]
    assert _node(tree, f"/turn-{turn1}")["own"]["requests"] == 2
    t2 = _node(tree, f"/turn-{turn2}")
    assert t2["own"]["requests"] == 1 and t2["total"]["requests"] == 2
    assert _node(tree, f"/turn-{turn2}/compaction")["own"]["requests"] == 1
    g = _node(tree, f"/guardian-{guardian}/turn-{gturn}")
    assert g["own"]["requests"] == 1 and g["requests"][0]["model_requested"] == "codex-auto-review"
    assert tree["total"]["requests"] == 5


def test_helicone_session_headers_win_over_codex(cgw: GatewayProcess) -> None:
    thread, turn = _uuid7ish(), _uuid7ish()
    headers = {**_codex_headers(cgw, thread, turn), "Helicone-Session-Id": "mine", "Helicone-Session-Path": "/a/b"}
    row = cgw.row(_post(cgw, _body("exec_gpt55_req_1.json", "gpt-5.6-sol"), headers).headers["lockgate-request-id"])
    assert (row["session_id"], row["session_path"]) == ("mine", "/a/b")
    headers = {**_codex_headers(cgw, thread, turn), "lockgate-session-id": "other"}
    row = cgw.row(_post(cgw, _body("exec_gpt55_req_1.json", "gpt-5.6-sol"), headers).headers["lockgate-request-id"])
    assert (row["session_id"], row["session_path"]) == ("other", None)


def test_requests_without_codex_headers_have_no_session(cgw: GatewayProcess) -> None:
    headers = {"authorization": f"Bearer {cgw.key}", "content-type": "application/json"}
    row = cgw.row(_post(cgw, _body("exec_gpt55_req_1.json", "gpt-5.6-sol"), headers).headers["lockgate-request-id"])
    assert row["session_id"] is None and row["session_path"] is None


@pytest.mark.parametrize(("found", "session", "path"), [
    # A WebSocket frame's client_metadata (underscore keys), prewarm on the upgrade (empty turn id).
    ({"session_id": "s", "thread_id": "s", "x-codex-turn-metadata": '{"turn_id":"","request_kind":"prewarm"}'},
     "s", "/prewarm"),
    ({"thread-id": "t", "x-codex-turn-metadata": "not json"}, "t", None),
    ({"x-codex-turn-metadata": '{"thread_id":"t","session_id":"s","turn_id":"u"}'}, "s", "/agent-t/turn-u"),
    ({"originator": "codex_exec"}, None, None),
    ({"session-id": "s", "thread-id": "s", "x-codex-turn-metadata": '{"turn_id":"a/b"}'}, "s", "/turn-a_b"),
])
def test_codex_session_mapping(found: dict[str, str], session: str | None, path: str | None) -> None:
    meta = RequestMeta()
    codex_session(meta, found)
    assert (meta.session_id, meta.session_path) == (session, path)


def test_codex_slugs_route_through_aliases(cgw: GatewayProcess, fakes: dict[str, Any]) -> None:
    thread = _uuid7ish()
    r = _post(cgw, _body("exec_gpt55_req_1.json", "gpt-5.5"), _codex_headers(cgw, thread, _uuid7ish()))
    row = cgw.row(r.headers["lockgate-request-id"])
    assert (row["model_requested"], row["provider"], row["model_resolved"]) == (
        "gpt-5.5", "claude", "claude-sonnet-4-5")
    # What Anthropic got (docs/codex.md, "Codex-only fields"): no Codex metadata; custom and
    # namespace tools as functions; web_search left out and named in a header.
    sent = next(q for q in reversed(fakes["anthropic"].requests) if q.path.endswith("/messages")).json()
    assert sent["model"] == "claude-sonnet-4-5"
    assert not {"client_metadata", "prompt_cache_key", "store", "include", "text"} & set(sent)
    names = {t.get("name") for t in sent["tools"]}
    assert {"exec_command", "apply_patch"} <= names
    assert "web_search" in r.headers["lockgate-dropped-tools"]
    assert sent["thinking"]["budget_tokens"] == 8192  # reasoning.effort "medium"
    r = _post(cgw, _body("sdk_py_ws_session_frame2.json", "codex-auto-review"),
              _guardian_headers(cgw, thread, _uuid7ish(), _uuid7ish()))
    row = cgw.row(r.headers["lockgate-request-id"])
    assert (row["provider"], row["model_resolved"], row["translated"]) == ("local", "local-reviewer", 1)
    sent = fakes["chat-only"].requests[-1].body
    assert b"additional_tools" not in sent and b"all_turns" not in sent and b"guardian:" not in sent


def test_codex_model_catalog(cgw: GatewayProcess) -> None:
    r = httpx.get(f"{cgw.url}/codex/models", params={"client_version": "0.169.0"},
                  headers={"authorization": f"Bearer {cgw.key}"})
    assert r.status_code == 200
    models = r.json()["models"]
    # Only the entry with instructions: any entry replaces Codex's own prompt for that slug.
    assert [m["slug"] for m in models] == ["claude-sonnet-4-5"]
    m = models[0]
    assert m["context_window"] == 200000 and m["base_instructions"] == INSTRUCTIONS
    assert [e["effort"] for e in m["supported_reasoning_levels"]] == ["low", "medium", "high"]
    assert m["display_name"] == "Claude Sonnet 4.5" and m["visibility"] == "list" and m["supported_in_api"] is True
    required = {"slug", "display_name", "description", "supported_reasoning_levels", "shell_type", "visibility",
                "supported_in_api", "priority", "upgrade", "base_instructions", "supports_reasoning_summaries",
                "support_verbosity", "default_verbosity", "apply_patch_tool_type", "truncation_policy",
                "supports_parallel_tool_calls", "experimental_supported_tools"}
    assert required <= set(m)
    assert httpx.get(f"{cgw.url}/codex/models").status_code == 401


MODEL_STATUS = {"codex-429": 429, "codex-quota": 402, "codex-overloaded": 529}


@pytest.mark.parametrize(("model", "status", "code", "retry_after"), [
    ("codex-429", 429, "rate_limit_exceeded", "7"),  # Codex waits exactly Retry-After, then retries
    ("codex-quota", 429, "insufficient_quota", None),  # Codex stops: "Quota exceeded"
    ("codex-overloaded", 503, "overloaded", None),  # a 5xx: Codex retries
])
def test_translated_provider_errors_reach_codex_as_openai_errors(cgw: GatewayProcess, model: str, status: int,
                                                                 code: str, retry_after: str | None) -> None:
    r = httpx.post(f"{cgw.url}/responses", content=_body("exec_gpt55_req_1.json", model),
                   headers=_codex_headers(cgw, _uuid7ish(), _uuid7ish()), timeout=30)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]
    assert r.headers.get("retry-after") == retry_after
    row = cgw.row(r.headers["lockgate-request-id"])  # the log keeps the provider's own status (402, 529)
    assert row["status"] == MODEL_STATUS[model] and row["error"]
