"""formats/fit.py: what a translated request loses or changes for its target, and how answers are restored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import orjson
import pytest

from lockgate import ir
from lockgate.errors import TranslationError
from lockgate.formats.fit import StreamRestorer, fit_request, restore_response
from lockgate.formats.registry import API_FORMATS, client_format, provider_format

PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"


def _codex_like() -> ir.Request:
    return ir.Request(
        model="m", source="openai_responses",
        tools=[ir.Tool(name="exec_command", parameters={"type": "object", "properties": {"cmd": {"type": "string"}}}),
               ir.Tool(name="apply_patch", kind="custom", description="Edit files.",
                       format={"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"})],
        builtin_tools=[
            ir.BuiltinTool("web_search", {"type": "web_search", "external_web_access": True}, "openai_responses"),
            ir.BuiltinTool("tool_search", {"type": "tool_search", "execution": "client"}, "openai_responses"),
            ir.BuiltinTool("namespace", {"type": "namespace", "name": "multi_agent_v1", "tools": [
                {"type": "function", "name": "close_agent", "parameters": {"type": "object"}}]}, "openai_responses"),
        ],
        messages=[
            ir.Message("user", [ir.Text("edit a.txt")]),
            ir.Message("assistant", [
                ir.Reasoning(summary=["thinking"], encrypted="gAAA", source="openai_responses"),
                ir.ToolCall("call_1", "apply_patch", PATCH, kind="custom"),
                ir.ToolCall("call_2", "close_agent", '{"id": "a"}', namespace="multi_agent_v1")]),
            ir.Message("tool", [ir.ToolResult("call_1", "Done", kind="custom"), ir.ToolResult("call_2", "closed")]),
        ])


def test_custom_tools_become_one_string_functions_for_targets_without_them() -> None:
    fitted = fit_request(_codex_like(), "anthropic_messages")
    tools = {t.name: t for t in fitted.request.tools}
    patch = tools["apply_patch"]
    assert patch.kind == "function" and patch.format is None
    assert patch.parameters == {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"],
                                "additionalProperties": False}
    assert "start: begin_patch" in (patch.description or "")  # the grammar still reaches the model
    call = fitted.request.messages[1].parts[0]
    assert isinstance(call, ir.ToolCall) and call.kind == "function"
    assert orjson.loads(call.arguments) == {"input": PATCH}
    result = fitted.request.messages[2].parts[0]
    assert isinstance(result, ir.ToolResult) and result.kind == "function" and result.call_id == "call_1"


def test_openai_responses_keeps_custom_tools_and_namespaces() -> None:
    fitted = fit_request(_codex_like(), "openai_responses")
    assert [t.kind for t in fitted.request.tools] == ["function", "custom"]
    assert [b.type for b in fitted.request.builtin_tools] == ["web_search", "tool_search", "namespace"]
    assert fitted.dropped == [] and not fitted.custom


def test_namespaces_are_flattened_and_history_renamed() -> None:
    fitted = fit_request(_codex_like(), "openai_chat")
    names = [t.name for t in fitted.request.tools]
    assert "multi_agent_v1__close_agent" in names
    call = fitted.request.messages[1].parts[1]
    assert isinstance(call, ir.ToolCall) and (call.name, call.namespace) == ("multi_agent_v1__close_agent", None)
    back = fitted.restore_call(ir.ToolCall("c9", "multi_agent_v1__close_agent", "{}"))
    assert (back.name, back.namespace, back.kind) == ("close_agent", "multi_agent_v1", "function")


def test_builtins_the_target_lacks_are_dropped_and_named_or_refused_in_strict_mode() -> None:
    fitted = fit_request(_codex_like(), "gemini")
    assert fitted.dropped == ["web_search"]  # tool_search with client execution is offered as a function
    assert not fitted.request.builtin_tools and fitted.tool_search
    assert "tool_search" in [t.name for t in fitted.request.tools]
    with pytest.raises(TranslationError, match="web_search") as exc:
        fit_request(_codex_like(), "gemini", strict=True)
    assert exc.value.status == 400 and exc.value.param == "tools"


def test_foreign_reasoning_is_dropped_own_reasoning_kept() -> None:
    req = _codex_like()
    parts = fit_request(req, "anthropic_messages").request.messages[1].parts
    assert not any(isinstance(p, ir.Reasoning) for p in parts)
    thinking = ir.Reasoning(text="hmm", signature="sig==", source="anthropic_messages")
    req.messages[1].parts.insert(0, thinking)
    parts = fit_request(req, "anthropic_messages").request.messages[1].parts
    assert parts[0] is thinking  # byte-exact: the same object, signature untouched


@pytest.mark.parametrize(("arguments", "raw"), [
    (orjson.dumps({"input": PATCH}).decode(), PATCH),
    (orjson.dumps({"patch": PATCH}).decode(), PATCH),  # wrong key, one string: still the raw input (#14)
    (orjson.dumps(PATCH).decode(), PATCH),
    ("not json at all", "not json at all"),
])
def test_custom_calls_come_back_with_the_raw_string(arguments: str, raw: str) -> None:
    fitted = fit_request(_codex_like(), "openai_chat")
    resp = ir.Response(id="r", model="m", content=[ir.Text("ok"), ir.ToolCall("c1", "apply_patch", arguments)])
    call = restore_response(resp, fitted).content[1]
    assert isinstance(call, ir.ToolCall)
    assert (call.kind, call.name, call.arguments) == ("custom", "apply_patch", raw)


def test_streamed_custom_call_is_held_and_released_raw_at_the_end() -> None:
    fitted = fit_request(_codex_like(), "anthropic_messages")
    restore = StreamRestorer(fitted)
    args = orjson.dumps({"input": PATCH}).decode()
    events: list[ir.StreamEvent] = [
        ir.StreamStart("m1", "m"),
        ir.StreamPartStart(0, ir.ToolCall("c1", "apply_patch", "")),
        ir.StreamPartDelta(0, args[:10], "arguments"),
        ir.StreamPartDelta(0, args[10:], "arguments"),
        ir.StreamPartEnd(0, ir.ToolCall("c1", "apply_patch", args)),
        ir.StreamPartStart(1, ir.ToolCall("c2", "exec_command", "")),
        ir.StreamPartDelta(1, '{"cmd":"ls"}', "arguments"),
        ir.StreamPartEnd(1, ir.ToolCall("c2", "exec_command", '{"cmd":"ls"}')),
        ir.StreamFinish("tool_calls"),
    ]
    out = restore(events)
    kinds = [(type(e).__name__, getattr(e, "index", None)) for e in out]
    assert kinds == [("StreamStart", None), ("StreamPartStart", 0), ("StreamPartDelta", 0), ("StreamPartEnd", 0),
                     ("StreamPartStart", 1), ("StreamPartDelta", 1), ("StreamPartEnd", 1), ("StreamFinish", None)]
    start, delta, end = out[1], out[2], out[3]
    assert isinstance(start, ir.StreamPartStart) and isinstance(start.part, ir.ToolCall)
    assert start.part.kind == "custom" and start.part.arguments == ""
    assert isinstance(delta, ir.StreamPartDelta) and delta.text == PATCH
    assert isinstance(end, ir.StreamPartEnd) and isinstance(end.part, ir.ToolCall)
    assert (end.part.kind, end.part.arguments) == ("custom", PATCH)


def test_long_namespaced_names_stay_valid_for_every_provider() -> None:
    req = ir.Request(model="m", messages=[ir.Message("user", [ir.Text("x")])], builtin_tools=[
        ir.BuiltinTool("namespace", {"type": "namespace", "name": "mcp.server/with spaces" + "x" * 60,
                                     "tools": [{"type": "function", "name": "a_rather_long_tool_name"}]},
                       "openai_responses")])
    fitted = fit_request(req, "anthropic_messages")
    name = fitted.request.tools[0].name
    assert len(name) <= 64 and all(c.isalnum() or c in "_-" for c in name)
    assert fitted.restore_call(ir.ToolCall("c", name, "{}")).name == "a_rather_long_tool_name"


@pytest.mark.parametrize(("effort", "limit", "choice", "budget"), [
    ("medium", None, None, 8192),
    ("high", None, ir.ToolChoice("auto"), 16384),
    ("minimal", None, None, None),  # no thinking for minimal effort
    ("high", 4000, None, 3999),  # the budget fits inside max_tokens
    ("high", 1000, None, None),  # too small a limit for Anthropic's 1024 minimum
    ("medium", None, ir.ToolChoice("required"), None),  # thinking cannot be combined with a forced tool
])
def test_reasoning_effort_becomes_an_anthropic_thinking_budget(
        effort: str, limit: int | None, choice: ir.ToolChoice | None, budget: int | None) -> None:
    req = ir.Request(model="m", messages=[ir.Message("user", [ir.Text("x")])], reasoning_effort=effort,
                     max_output_tokens=limit, tool_choice=choice, source="openai_responses")
    assert fit_request(req, "anthropic_messages").request.thinking_budget == budget
    assert fit_request(req, "openai_chat").request.thinking_budget is None


GUARDIAN = Path(__file__).parent / "golden" / "openai_responses" / "codex" / "sdk_py_ws_session_frame2.json"


@pytest.mark.parametrize("target", ["messages", "chat", "gemini", "converse"])
def test_no_tool_choice_without_tools(target: str) -> None:
    """Codex's guardian review (and its compaction summary) sends no tools with tool_choice
    "auto": a translated request must not carry the choice, or Anthropic and strict chat hosts
    refuse it with a 400 and the review fails closed (every escalation denied)."""
    body = orjson.loads(GUARDIAN.read_bytes())
    for ws_only in ("type", "generate"):  # a WebSocket frame's own fields
        body.pop(ws_only)
    assert (body.get("tools"), body["tool_choice"], body["parallel_tool_calls"]) == (None, "auto", False)
    req = client_format("responses").decode_request(body)
    fmt = API_FORMATS[target]
    sent = provider_format(target).encode_request(fit_request(req, fmt).request)
    assert not {"tool_choice", "toolChoice", "toolConfig", "tools"} & set(sent), sorted(sent)


@pytest.mark.parametrize("mode", ["auto", "required"])
def test_tool_choice_kept_when_there_is_a_tool_or_it_demands_one(mode: Literal["auto", "required"]) -> None:
    choice = ir.ToolChoice(mode)
    tool = ir.Tool(name="f", parameters={"type": "object", "properties": {}})
    req = ir.Request(model="m", messages=[ir.Message("user", [ir.Text("x")])], tools=[tool], tool_choice=choice,
                     source="openai_responses")
    assert fit_request(req, "anthropic_messages").request.tool_choice == choice
    # Without tools, "required" is the client's own contradiction: the provider's 400 says so.
    bare = replace(req, tools=[])
    assert fit_request(bare, "openai_chat").request.tool_choice == (None if mode == "auto" else choice)
    # The same format gets what its client wrote.
    assert fit_request(replace(bare, source="openai_chat"), "openai_chat").request.tool_choice == choice
