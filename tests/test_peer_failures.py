"""One test per failure that peer gateways hit with agents (shared/research/peers.md §3.3), named after it.

Everything runs through a real lockgate process (`tgw`, conftest.py) in front of fakes that
validate the way the real APIs do. Model names pick the provider: `gpt-*` OpenAI (native
Responses and chat), `resp-*` an OpenAI host that speaks only Responses, `claude-*`
Anthropic, `gemini-*` Gemini, `local-*` a strict chat-only host, `bedrock-*` Bedrock.
Elsewhere: #8 (the WebSocket warm-up and model-less frames) is tests/test_responses_ws.py
(`test_prewarm_makes_no_upstream_call`, `test_codex_exec_session_replayed`,
`test_chained_session_any_provider`) and the real Codex over WebSocket in tests/test_codex_cli.py;
#19 (`previous_response_not_found` after idle) is tests/test_ws_upstream.py
(`test_upstream_closing_idle_socket_is_reopened`, `test_lost_chain_is_sent_whole`,
`test_connection_limit_opens_a_new_socket`: the client never sees the upstream's lost state).
Not here: #21's GitHub Copilot provider itself
(its cause, a Claude Code request a chat host rejects, is #21 below) and #24 (lockgate
does not intercept web search; the tool is left out and named, as in #12/#24 below).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.fakes.anthropic_upstream import sign_thinking
from tests.fakes.openai_upstream import FakeOpenAI, sse_events
from tests.gateway_proc import GatewayProcess

CAPTURES = Path(__file__).parent / "golden" / "openai_responses" / "codex"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
FN_TOOL: dict[str, Any] = {"type": "function", "name": "get_weather", "description": "Weather.",
                           "parameters": WEATHER, "strict": False}
PATCH_TOOL: dict[str, Any] = {"type": "custom", "name": "apply_patch", "description": "Edit files.",
                              "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}


def _oa(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url, api_key=gw.key, max_retries=0, timeout=20)


def _ant(gw: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.root, api_key=gw.key, max_retries=0, timeout=20)


def _last_json(fake: Any) -> dict[str, Any]:
    body = fake.requests[-1].json() if hasattr(fake.requests[-1], "json") else orjson.loads(fake.requests[-1].body)
    assert isinstance(body, dict)
    return body


def _call_turn(call_id: str = "call_1") -> list[dict[str, Any]]:
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather in Paris?"}]},
            {"type": "function_call", "call_id": call_id, "name": "get_weather", "arguments": '{"city":"Paris"}'}]


def test_peer_01_reasoning_items_with_encrypted_content_are_not_dropped(tgw: GatewayProcess,
                                                                       fake: FakeOpenAI) -> None:
    item = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB-opaque-bytes=="}
    body = {"model": "gpt-5-mini", "input": [*_call_turn(), item,
                                             {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
            "tools": [FN_TOOL], "include": ["reasoning.encrypted_content"], "store": False}
    sent = orjson.dumps(body)
    r = httpx.post(f"{tgw.url}/responses", content=sent, timeout=20,
                   headers={"authorization": f"Bearer {tgw.key}", "content-type": "application/json"})
    assert r.status_code == 200
    assert fake.requests[-1].body == sent  # passthrough: the upstream got the client's bytes


def test_peer_02_apply_patch_output_items_survive_the_chat_bridge(tgw: GatewayProcess) -> None:
    resp = _oa(tgw).responses.create(model="local-qwen", input="apply patch: add hello.txt", tools=[PATCH_TOOL])
    calls = [o for o in resp.output if o.type == "custom_tool_call"]
    assert len(calls) == 1 and calls[0].input.startswith("*** Begin Patch")


def test_peer_03_custom_tools_reach_a_chat_only_host_without_a_400(tgw: GatewayProcess,
                                                                   fakes: dict[str, Any]) -> None:
    resp = _oa(tgw).responses.create(model="local-qwen", input="apply patch", tools=[FN_TOOL, PATCH_TOOL])
    assert resp.status == "completed"
    sent = _last_json(fakes["chat-only"])
    assert {t["type"] for t in sent["tools"]} == {"function"}  # the strict host takes functions only
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "apply_patch"]


def test_peer_04_output_text_in_history_is_valid_for_the_chat_bridge(tgw: GatewayProcess) -> None:
    history = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
               {"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello!", "annotations": []}]},
               *_call_turn(),
               {"type": "function_call_output", "call_id": "call_1",
                "output": [{"type": "input_text", "text": "sunny"}]}]
    resp = _oa(tgw).responses.create(model="local-qwen", input=history, tools=[FN_TOOL])  # type: ignore[arg-type]
    assert resp.status == "completed" and "sunny" in resp.output_text


def test_peer_05_function_call_output_list_becomes_a_string(tgw: GatewayProcess, fakes: dict[str, Any]) -> None:
    history = [*_call_turn(), {"type": "function_call_output", "call_id": "call_1",
                               "output": [{"type": "input_text", "text": "sunny"},
                                          {"type": "input_text", "text": "21 C"}]}]
    _oa(tgw).responses.create(model="local-qwen", input=history, tools=[FN_TOOL])  # type: ignore[arg-type]
    tool_msgs = [m for m in _last_json(fakes["chat-only"])["messages"] if m["role"] == "tool"]
    assert len(tool_msgs) == 1 and isinstance(tool_msgs[0]["content"], str)
    assert "sunny" in tool_msgs[0]["content"] and "21 C" in tool_msgs[0]["content"]


def test_peer_06_text_plus_function_call_keeps_the_call_for_gemini(tgw: GatewayProcess,
                                                                  fakes: dict[str, Any]) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "Let me check.",
         "tool_calls": [{"id": "call_9", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": "sunny"}]
    tools: list[Any] = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    done = _oa(tgw).chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=tools)
    assert done.choices[0].message.content
    contents = _last_json(fakes["gemini"])["contents"]
    model_turn = next(c for c in contents if c["role"] == "model")
    assert any("text" in p for p in model_turn["parts"]) and any("functionCall" in p for p in model_turn["parts"])


def test_peer_07_arguments_sent_only_in_done_are_not_lost(tgw: GatewayProcess) -> None:
    args = ""
    names = []
    for chunk in _oa(tgw).chat.completions.create(
            model="resp-codex-done-only", stream=True, messages=[{"role": "user", "content": "call tool now"}],
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]):
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                if tc.function is not None:
                    args += tc.function.arguments or ""
                    names += [tc.function.name] if tc.function.name else []
    assert names == ["get_weather"] and orjson.loads(args) == {"x": 1}


def test_peer_09_chat_client_reaches_a_responses_only_model(tgw: GatewayProcess, fake: FakeOpenAI) -> None:
    done = _oa(tgw).chat.completions.create(model="resp-gpt-5-codex", messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content
    assert fake.requests[-1].path == "/v1/responses"


def test_peer_10_tool_calls_are_followed_by_their_tool_messages(tgw: GatewayProcess,
                                                                fakes: dict[str, Any]) -> None:
    history = [*_call_turn("call_a"),
               {"type": "function_call", "call_id": "call_b", "name": "get_weather", "arguments": '{"city":"Rome"}'},
               {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "checking"}]},
               {"type": "function_call_output", "call_id": "call_b", "output": "rain"},
               {"type": "function_call_output", "call_id": "call_a", "output": "sunny"}]
    resp = _oa(tgw).responses.create(model="local-qwen", input=history, tools=[FN_TOOL])  # type: ignore[arg-type]
    assert resp.status == "completed"
    msgs = _last_json(fakes["chat-only"])["messages"]
    i = next(n for n, m in enumerate(msgs) if m.get("tool_calls"))
    assert [m["role"] for m in msgs[i + 1:i + 3]] == ["tool", "tool"]
    assert [m["tool_call_id"] for m in msgs[i + 1:i + 3]] == [c["id"] for c in msgs[i]["tool_calls"]]


def test_peer_11_streamed_responses_come_through_with_their_headers(tgw: GatewayProcess) -> None:
    with _oa(tgw).responses.with_streaming_response.create(model="gpt-5-mini", input="hi", stream=True) as r:
        assert r.headers["content-type"].startswith("text/event-stream") and r.headers["lockgate-request-id"]
        events = [name for name, _ in sse_events(r.read())]
    assert events[0] == "response.created" and events[-1] == "response.completed"


def test_peer_12_codex_tools_pass_through_byte_for_byte(tgw: GatewayProcess, fake: FakeOpenAI) -> None:
    body = orjson.loads((CAPTURES / "exec_gpt55_req_1.json").read_bytes())
    body["model"], body["stream"] = "gpt-5.5", False
    sent = orjson.dumps(body)
    r = httpx.post(f"{tgw.url}/responses", content=sent, timeout=20,
                   headers={"authorization": f"Bearer {tgw.key}", "content-type": "application/json"})
    assert r.status_code == 200
    upstream = fake.requests[-1].json()
    assert upstream["tools"] == body["tools"]  # tool_search keeps its description, web_search its fields
    assert fake.requests[-1].body == sent


def test_peer_13_openai_tool_payloads_reach_anthropic(tgw: GatewayProcess, fakes: dict[str, Any]) -> None:
    tools: list[Any] = [{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
                                                          "parameters": WEATHER, "strict": True}}]
    done = _oa(tgw).chat.completions.create(model="claude-sonnet-4-5", tools=tools, tool_choice="required",
                                            messages=[{"role": "user", "content": "weather in Paris"}])
    assert done.choices[0].message.tool_calls
    sent = _last_json(fakes["anthropic"])
    assert sent["tools"][0]["name"] == "get_weather" and sent["tools"][0]["input_schema"]["properties"]
    assert sent["tool_choice"]["type"] == "any"


def test_peer_14_freeform_tool_never_gets_a_json_object(tgw: GatewayProcess) -> None:
    for model in ("claude-sonnet-4-5", "gemini-2.5-flash", "local-qwen", "bedrock-claude"):
        resp = _oa(tgw).responses.create(model=model, input="apply patch", tools=[PATCH_TOOL])
        call = next(o for o in resp.output if o.type == "custom_tool_call")
        assert not call.input.lstrip().startswith("{"), model
        assert call.input.startswith("*** Begin Patch"), model


def test_peer_15_call_and_output_are_adjacent_for_anthropic(tgw: GatewayProcess, fakes: dict[str, Any]) -> None:
    history = [*_call_turn(),
               {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "one moment"}]},
               {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]
    resp = _oa(tgw).responses.create(model="claude-sonnet-4-5", input=history, tools=[FN_TOOL])  # type: ignore[arg-type]
    assert resp.status == "completed"
    msgs = _last_json(fakes["anthropic"])["messages"]
    i = next(n for n, m in enumerate(msgs) if any(b.get("type") == "tool_use" for b in m["content"]))
    assert msgs[i + 1]["content"][0]["type"] == "tool_result"


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gemini-2.5-flash", "local-qwen", "bedrock-claude"])
def test_peer_16_calls_and_outputs_stay_paired_across_turns(tgw: GatewayProcess, model: str) -> None:
    history: list[Any] = []
    for n, city in enumerate(("Paris", "Rome")):
        history += [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"{city}?"}]},
                    {"type": "function_call", "call_id": f"call:{n}/x", "name": "get_weather",
                     "arguments": orjson.dumps({"city": city}).decode()},
                    {"type": "function_call_output", "call_id": f"call:{n}/x", "output": f"{city}: sunny"},
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}]
    history.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and Oslo?"}]})
    # The fakes reject a result without its call (and the reverse), as the real APIs do.
    resp = _oa(tgw).responses.create(model=model, input=history, tools=[FN_TOOL])
    assert resp.status == "completed" and resp.output


def test_peer_17_openai_encrypted_reasoning_is_not_sent_to_another_backend(tgw: GatewayProcess,
                                                                         fakes: dict[str, Any]) -> None:
    history = [*_call_turn(), {"type": "reasoning", "id": "rs_1", "summary": [],
                               "encrypted_content": "gAAAAB-from-openai=="},
               {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]
    targets = (("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-flash", "gemini"), ("local-qwen", "chat-only"))
    for model, fake in targets:
        resp = _oa(tgw).responses.create(model=model, input=history, tools=[FN_TOOL])  # type: ignore[arg-type]
        assert resp.status == "completed"
        assert b"gAAAAB-from-openai" not in orjson.dumps(_last_json(fakes[fake]))


def test_peer_18_a_broken_stream_ends_with_response_failed(tgw: GatewayProcess) -> None:
    events = list(_oa(tgw).responses.create(model="claude-overloaded", input="count to ten", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.failed"
    assert sum(e.type in ("response.completed", "response.failed", "response.incomplete") for e in events) == 1


def test_peer_20_each_tool_use_gets_a_single_tool_result(tgw: GatewayProcess, fakes: dict[str, Any]) -> None:
    history = [*_call_turn(), {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
               {"type": "function_call_output", "call_id": "call_1", "output": "still sunny"}]
    resp = _oa(tgw).responses.create(model="claude-sonnet-4-5", input=history, tools=[FN_TOOL])  # type: ignore[arg-type]
    assert resp.status == "completed"
    results = [b for m in _last_json(fakes["anthropic"])["messages"] for b in m["content"]
               if b.get("type") == "tool_result"]
    assert len(results) == 1


def test_peer_21_a_claude_code_request_reaches_a_chat_only_host(tgw: GatewayProcess) -> None:
    system: list[Any] = [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}]
    tools: list[Any] = [{"name": "Bash", "description": "Run a command.", "cache_control": {"type": "ephemeral"},
                         "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                                          "required": ["command"]}}]
    msg = _ant(tgw).messages.create(
        model="local-qwen", max_tokens=1024, system=system, tools=tools, metadata={"user_id": "user_abc"},
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": [{"type": "text", "text": "list files",
                                                "cache_control": {"type": "ephemeral"}}]}])
    assert msg.stop_reason == "tool_use" and msg.content[-1].type == "tool_use"


def test_peer_22_thinking_signatures_survive_a_round_trip_through_codex(tgw: GatewayProcess) -> None:
    client = _oa(tgw)
    user = {"role": "user", "content": "call tool get_weather for Paris"}
    first = client.responses.create(model="claude-sonnet-4-5", input=[user], tools=[FN_TOOL],
                                    reasoning={"effort": "medium"}, include=["reasoning.encrypted_content"])
    kinds = [o.type for o in first.output]
    assert kinds[0] == "reasoning" and "function_call" in kinds
    call = next(o for o in first.output if o.type == "function_call")
    # Codex sends every output item back on the next turn, reasoning included; the fake Anthropic
    # upstream rejects a thinking block whose signature it did not make.
    history = [user, *[o.model_dump(exclude_none=True) for o in first.output],
               {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    second = client.responses.create(model="claude-sonnet-4-5", input=history, tools=[FN_TOOL],
                                     reasoning={"effort": "medium"})
    assert second.status == "completed" and second.output_text


def test_peer_22_a_forged_thinking_signature_is_refused_in_anthropic_shape(tgw: GatewayProcess) -> None:
    text = "I should check."
    assert sign_thinking(text) != "forged"
    with pytest.raises(anthropic.BadRequestError) as exc:
        _ant(tgw).messages.create(model="claude-sonnet-4-5", max_tokens=2048,
                                  thinking={"type": "enabled", "budget_tokens": 1024}, messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": text, "signature": "forged"},
                                              {"type": "text", "text": "Hello"}]},
            {"role": "user", "content": "again"}])
    assert "signature" in str(exc.value)


def test_peer_23_no_more_than_four_cache_control_blocks(tgw: GatewayProcess, fakes: dict[str, Any]) -> None:
    marked = {"type": "ephemeral"}
    system: list[Any] = [{"type": "text", "text": f"part {n}", "cache_control": marked} for n in range(3)]
    messages: list[Any] = [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": marked}]}]
    msg = _ant(tgw).messages.create(model="claude-sonnet-4-5", max_tokens=64, system=system, messages=messages)
    assert msg.content[0].type == "text"
    assert orjson.dumps(_last_json(fakes["anthropic"])).count(b'"cache_control"') == 4  # nothing added by lockgate


def test_peer_24_server_tools_a_provider_lacks_are_left_out_and_named(tgw: GatewayProcess) -> None:
    raw = _ant(tgw).messages.with_raw_response.create(
        model="gemini-2.5-flash", max_tokens=64, messages=[{"role": "user", "content": "news?"}],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}])  # type: ignore[list-item]
    assert raw.parse().content[0].type == "text"
    assert "web_search" in raw.headers["lockgate-dropped-tools"]

