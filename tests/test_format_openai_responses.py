"""OpenAI Responses format: requests, responses and reasoning envelopes (streams: *_stream.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.responses import Response

from lockgate import ir
from lockgate.errors import InvalidRequest, TranslationError
from lockgate.formats import envelope
from lockgate.formats.openai_responses import FORMAT, ResponsesFormat
from tests.responses_support import (
    CAPTURES,
    codex,
    codex_echo,
    load,
    simple_request,
)

# -- requests: Codex captures and properties ---------------------------------------------------

@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_codex_capture_round_trips_unchanged(path: Path) -> None:
    body = orjson.loads(path.read_bytes())
    assert FORMAT.encode_request(FORMAT.decode_request(copy.deepcopy(body))) == body


def test_codex_capture_tool_order_survives_exactly() -> None:
    # prompt-cache prefix: the namespace tool sits between functions in the fallback request
    body = codex("exec_gpt5fallback_req_1")
    out = FORMAT.encode_request(FORMAT.decode_request(copy.deepcopy(body)))
    assert [t.get("name", t["type"]) for t in out["tools"]] == [t.get("name", t["type"]) for t in body["tools"]]
    assert orjson.dumps(out["input"]) == orjson.dumps(body["input"])


def test_codex_turn_two_decodes_to_ir() -> None:
    req = FORMAT.decode_request(codex("exec_gpt55_req_2"))
    assert req.source == "openai_responses" and req.stream and req.model == "gpt-5.5"
    assert [m.role for m in req.messages] == ["developer", "developer", "user", "user", "assistant", "tool"]
    turn = req.messages[4]
    reasoning, call = turn.parts
    assert isinstance(reasoning, ir.Reasoning) and isinstance(call, ir.ToolCall)
    assert reasoning.source == "openai_responses"
    assert reasoning.encrypted == "gAAAAA_MOCK_ENCRYPTED_REASONING_rs_b289f393ab80423081caafe7"
    assert reasoning.summary == ["**Planning** I will run echo."]
    assert (call.name, call.call_id, call.item_id) == ("exec_command", "call_c47753dbe81649579db1628d",
                                                       "fc_388166001f924e12ab04ea59")
    result = req.messages[5].parts[0]
    assert isinstance(result, ir.ToolResult) and result.call_id == call.call_id
    assert result.name == "exec_command" and isinstance(result.content, str)
    assert result.extra == {"id": "fco_01a205b4-fd3c-7841-b0a5-a0b6d91fdf11"}
    custom = next(t for t in req.tools if t.name == "apply_patch")
    assert custom.kind == "custom" and custom.format is not None and custom.format["syntax"] == "lark"
    assert [b.type for b in req.builtin_tools] == ["tool_search", "web_search"]
    assert all(b.source == "openai_responses" for b in req.builtin_tools)
    assert req.reasoning_effort == "medium" and req.reasoning_summary is None
    assert req.tool_choice == ir.ToolChoice("auto") and req.parallel_tool_calls is True
    assert req.extra["store"] is False and req.extra["include"] == ["reasoning.encrypted_content"]
    assert req.extra["text"] == {"verbosity": "low"} and "client_metadata" in req.extra


def test_unknown_items_are_kept_opaque() -> None:
    guardian = codex("sdk_py_ws_session_frame2")  # additional_tools item, reasoning.context, no tools key
    req = FORMAT.decode_request(guardian)
    opaque = req.messages[0].parts[0]
    assert isinstance(opaque, ir.Opaque) and opaque.raw["type"] == "additional_tools"
    assert req.extra["reasoning"] == {"context": "all_turns"} and req.reasoning_effort == "low"
    trigger = FORMAT.decode_request(codex("compaction_remote_v2_req")).messages[-1].parts[0]
    assert isinstance(trigger, ir.Opaque) and trigger.raw == {"type": "compaction_trigger"}


def test_request_fields_map_to_ir_and_back() -> None:
    body = {
        "model": "gpt-5", "instructions": "Be brief.", "input": [
            {"role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0K", "detail": "high"},
                {"type": "input_image", "file_id": "file-img", "detail": "auto"},
                {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0", "filename": "a.pdf"},
                {"type": "input_file", "file_url": "https://example.com/b.pdf"},
            ]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed", "phase": "final_answer",
             "content": [{"type": "output_text", "text": "ok", "annotations": []},
                         {"type": "refusal", "refusal": "no"}]},
            {"type": "item_reference", "id": "rs_old"},
            {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done!"},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}", "namespace": "multi_agent_v1"},
            {"type": "function_call_output", "call_id": "c2", "output": [
                {"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "https://x/y.png"}]},
        ],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True},
                  {"type": "custom", "name": "apply_patch", "format": {"type": "text"}},
                  {"type": "web_search"}],
        "tool_choice": {"type": "custom", "name": "apply_patch"},
        "parallel_tool_calls": False, "max_output_tokens": 100, "temperature": 0.2, "top_p": 0.9,
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True},
                 "verbosity": "high"},
        "reasoning": {"effort": "high", "summary": "detailed"},
        "metadata": {"k": "v"}, "user": "u1", "safety_identifier": "s1", "store": True,
        "previous_response_id": "resp_0", "truncation": "auto", "service_tier": "flex",
        "stream": False, "stream_options": {"include_obfuscation": False}, "prompt_cache_key": "pk",
    }
    req = FORMAT.decode_request(copy.deepcopy(body))
    assert req.system == [ir.Text("Be brief.")]
    parts = req.messages[0].parts
    assert parts[1] == ir.Image(data="iVBORw0K", media_type="image/png", detail="high")
    assert parts[2] == ir.Image(file_id="file-img", detail="auto")
    assert parts[3] == ir.File(data="JVBERi0", media_type="application/pdf", filename="a.pdf")
    assert parts[4] == ir.File(url="https://example.com/b.pdf")
    assistant = req.messages[1]
    assert assistant.item_id == "msg_1" and assistant.parts[1] == ir.Refusal("no")
    assert isinstance(req.messages[2].parts[0], ir.Opaque)
    call = req.messages[3].parts[0]
    assert isinstance(call, ir.ToolCall) and call.kind == "custom" and call.arguments == "*** Begin Patch"
    assert req.messages[4].parts[0] == ir.ToolResult("c1", "Done!", kind="custom", name="apply_patch")
    fn = req.messages[5].parts[0]
    assert isinstance(fn, ir.ToolCall) and fn.namespace == "multi_agent_v1"
    assert req.tool_choice is not None and (req.tool_choice.mode, req.tool_choice.name) == ("tool", "apply_patch")
    assert req.response_format == ir.ResponseFormat("json_schema", name="out", schema={"type": "object"},
                                                    strict=True)
    assert (req.reasoning_effort, req.reasoning_summary) == ("high", "detailed")
    assert (req.max_output_tokens, req.temperature, req.top_p, req.user) == (100, 0.2, 0.9, "u1")
    assert req.metadata == {"k": "v"} and req.parallel_tool_calls is False and not req.stream
    assert FORMAT.encode_request(req) == body


@pytest.mark.parametrize("body, param", [
    ({"input": "hi"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "m", "input": 3}, "input"),
    ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
])
def test_bad_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        FORMAT.decode_request(body)
    assert err.value.param == param


def test_foreign_request_encodes_for_a_responses_provider() -> None:
    req = ir.Request(
        model="gpt-5", source="anthropic_messages", system=[ir.Text("sys")], max_output_tokens=50,
        messages=[
            ir.Message("user", [ir.Text("hi", cache_control={"type": "ephemeral"})]),
            ir.Message("assistant", [
                ir.Reasoning(text="hmm", signature="sig", source="anthropic_messages"),
                ir.Text("calling", extra={"citations": []}),
                ir.ToolCall("toolu_1", "f", '{"a":1}', extra={"thoughtSignature": "x"}, extra_source="gemini"),
            ]),
            ir.Message("tool", [ir.ToolResult("toolu_1", "42", is_error=True)]),
        ],
        tools=[ir.Tool("f", parameters={"type": "object"})],
        tool_choice=ir.ToolChoice("tool", name="f"), thinking_budget=4000,
    )
    body = FORMAT.encode_request(req)
    assert body == {
        "model": "gpt-5", "instructions": "sys",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "calling", "annotations": []}]},
            {"type": "function_call", "call_id": "toolu_1", "name": "f", "arguments": '{"a":1}'},
            {"type": "function_call_output", "call_id": "toolu_1", "output": "42"},
        ],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "f"},
        "max_output_tokens": 50, "reasoning": {"effort": "medium"},
    }
    with pytest.raises(TranslationError):
        FORMAT.encode_request(ir.Request(model="m", messages=[], stop=["END"]))


# -- hypothesis: decode → encode is the identity -----------------------------------------------

_text = st.text(max_size=12)
_id = st.from_regex(r"[a-z]{2,4}_[a-z0-9]{1,8}", fullmatch=True)
_extra_field = st.dictionaries(st.sampled_from(["status", "internal_chat_message_metadata_passthrough"]),
                               st.one_of(st.just("completed"), st.fixed_dictionaries({"turn_id": _text})),
                               max_size=1)


@st.composite
def _message(draw: st.DrawFn) -> dict[str, Any]:
    role = draw(st.sampled_from(["user", "assistant", "system", "developer"]))
    text_type = "output_text" if role == "assistant" else "input_text"
    part = st.builds(lambda t: {"type": text_type, "text": t, **({"annotations": []} if role == "assistant" else {})},
                     _text)
    if role != "assistant":
        part = part | st.builds(lambda u, d: {"type": "input_image", "image_url": u, "detail": d},
                                st.sampled_from(["https://e.com/a.png", "data:image/jpeg;base64,/9j/4AAQ"]),
                                st.sampled_from(["low", "high", "auto"]))
    content = draw(st.one_of(_text, st.lists(part, min_size=1, max_size=3)))
    item: dict[str, Any] = {"role": role, "content": content}
    if draw(st.booleans()):
        item["type"] = "message"
    if draw(st.booleans()):
        item["id"] = draw(_id)
    item.update(draw(_extra_field))
    return item


_call = st.builds(
    lambda kind, cid, name, val, iid, extra: {
        "type": kind, "call_id": cid, "name": name, ("input" if kind == "custom_tool_call" else "arguments"): val,
        **({"id": iid} if iid else {}), **extra},
    st.sampled_from(["function_call", "custom_tool_call"]), _id, st.sampled_from(["exec", "apply_patch"]),
    _text, st.none() | _id, _extra_field,
)
_output = st.builds(
    lambda kind, cid, out: {"type": kind, "call_id": cid, "output": out},
    st.sampled_from(["function_call_output", "custom_tool_call_output"]), _id,
    _text | st.lists(st.builds(lambda t: {"type": "input_text", "text": t}, _text), max_size=2),
)
_reasoning = st.builds(
    lambda iid, summ, content, enc: {"type": "reasoning", "id": iid,
                                     "summary": [{"type": "summary_text", "text": s} for s in summ],
                                     **content, **enc},
    _id, st.lists(_text, max_size=2),
    st.sampled_from([{}, {"content": None}, {"content": [{"type": "reasoning_text", "text": "r"}]}]),
    st.sampled_from([{}, {"encrypted_content": "gAAAA_x"}, {"encrypted_content": None}]),
)
_opaque = st.sampled_from([{"type": "item_reference", "id": "msg_9"}, {"type": "compaction_trigger"},
                           {"type": "web_search_call", "id": "ws_1", "status": "completed",
                            "action": {"type": "search", "query": "q"}}])
_tools = st.lists(st.sampled_from([
    {"type": "function", "name": "exec", "parameters": {"type": "object"}, "strict": False},
    {"type": "function", "name": "g", "description": None, "defer_loading": True},
    {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "s"}},
    {"type": "web_search", "external_web_access": True},
    {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "h"}]},
]), max_size=5)


@st.composite
def _request(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(st.sampled_from(["gpt-5.5", "o3"]))}
    body["input"] = draw(_text | st.lists(_message() | _call | _output | _reasoning | _opaque, max_size=8))
    optional = {
        "instructions": _text, "tools": _tools, "stream": st.booleans(),
        "tool_choice": st.sampled_from(["auto", "none", "required", {"type": "function", "name": "exec"},
                                        {"type": "allowed_tools", "mode": "auto", "tools": []}]),
        "parallel_tool_calls": st.booleans(), "max_output_tokens": st.integers(1, 10_000),
        "temperature": st.floats(0, 2), "store": st.booleans(), "metadata": st.just({"a": "b"}),
        "text": st.sampled_from([{"verbosity": "low"}, {"format": {"type": "json_object"}}, {}]),
        "reasoning": st.sampled_from([{"effort": "low"}, {"summary": "auto"}, {}, None,
                                      {"effort": "low", "context": "all_turns"}]),
        "include": st.just(["reasoning.encrypted_content"]), "prompt_cache_key": _text,
        "client_metadata": st.dictionaries(_text, _text, max_size=2), "user": _text,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_request())
def test_any_request_round_trips_unchanged(body: dict[str, Any]) -> None:
    assert FORMAT.encode_request(FORMAT.decode_request(copy.deepcopy(body))) == body


# -- envelopes ----------------------------------------------------------------------------------

FOREIGN_REASONING = [
    ir.Reasoning(text="Let me think.", signature="EqQBCkgIARABGAIiQL", source="anthropic_messages"),
    ir.Reasoning(encrypted="EmwKAhgBEgy3va3pzix/LafPsn4a", redacted=True, source="anthropic_messages"),
    ir.Reasoning(text="thought", signature="CiQB0e2Kb3", source="gemini", extra={"thought": True}),
    ir.Reasoning(summary=["a", "b"], source="bedrock_converse", item_id="x1"),
]


@pytest.mark.parametrize("r", FOREIGN_REASONING, ids=lambda r: f"{r.source}-{r.redacted}")
@pytest.mark.parametrize("key", [None, b"k" * 32])
def test_envelope_restores_foreign_reasoning_exactly(r: ir.Reasoning, key: bytes | None) -> None:
    sealed = envelope.seal_reasoning(r, key)
    assert sealed.startswith("lgr1.")
    assert envelope.open_envelope(sealed, key) == r


def test_envelope_with_key_rejects_forgeries() -> None:
    key = b"secret"
    r = FOREIGN_REASONING[0]
    assert envelope.open_envelope(envelope.seal_reasoning(r, None), key) is None  # unsigned
    assert envelope.open_envelope(envelope.seal_reasoning(r, b"other"), key) is None
    forged = envelope.seal_reasoning(ir.Reasoning(text="evil", source="anthropic_messages"), None)
    tag = envelope.seal_reasoning(r, key).rsplit(".", 1)[1]
    assert envelope.open_envelope(forged + "." + tag, key) is None
    # plain OpenAI content and garbage are not envelopes
    assert envelope.open_envelope("gAAAAABo", key) is None
    assert envelope.open_envelope("lgr1.!!!", None) is None


@pytest.mark.parametrize("key", [None, b"gateway-key"])
def test_foreign_reasoning_and_call_extra_survive_a_codex_turn(key: bytes | None) -> None:
    fmt = ResponsesFormat(envelope_key=key)
    req = fmt.decode_request(codex("exec_gpt55_req_1"))
    thinking = ir.Reasoning(text="I should list files.", signature="sig==", source="anthropic_messages")
    call = ir.ToolCall("call_9", "exec_command", '{"cmd":"ls"}', extra={"thoughtSignature": "TS=="})
    resp = ir.Response(id="resp_1", model="gemini-3", content=[thinking, ir.Text("ok"), call],
                       finish_reason="tool_calls", source="gemini")
    body = fmt.encode_response(resp, req)
    Response.model_validate(body)
    shown = body["output"][0]
    assert shown["summary"] == [{"type": "summary_text", "text": "I should list files."}]
    assert [i["type"] for i in body["output"]] == ["reasoning", "message", "function_call", "reasoning"]
    assert "thoughtSignature" not in orjson.dumps(body["output"][2]).decode()

    turn2 = codex("exec_gpt55_req_1")
    output = {"type": "function_call_output", "call_id": "call_9", "output": "a.txt"}
    turn2["input"] += [*codex_echo(body["output"]), output]
    back = fmt.decode_request(turn2)
    parts = back.messages[4].parts
    assert parts[0] == thinking
    restored = next(p for p in parts if isinstance(p, ir.ToolCall))
    assert restored.extra == {"thoughtSignature": "TS=="} and restored.extra_source == "gemini"
    # sent on to a Responses provider (OpenAI), none of it leaks: OpenAI would reject it
    upstream = FORMAT.encode_request(back)
    dumped = orjson.dumps(upstream["input"]).decode()
    assert "lgr1." not in dumped and "thoughtSignature" not in dumped and "sig==" not in dumped


def test_plain_openai_reasoning_stays_openai() -> None:
    item = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "lgr1.not-really"}
    req = FORMAT.decode_request({"model": "m", "input": [item]})
    r = req.messages[0].parts[0]
    assert isinstance(r, ir.Reasoning) and r.source == "openai_responses" and r.encrypted == "lgr1.not-really"
    assert FORMAT.encode_request(req)["input"] == [item]


# -- responses ------------------------------------------------------------------------------------

def test_golden_response_decodes_and_encodes_back() -> None:
    golden = load("response_reasoning_tool_call.json")
    resp = FORMAT.decode_response(copy.deepcopy(golden))
    assert resp.finish_reason == "tool_calls" and resp.source == "openai_responses"
    assert resp.usage == ir.Usage(input_tokens=328, output_tokens=52, cached_input_tokens=128, reasoning_tokens=12)
    kinds = [type(p).__name__ for p in resp.content]
    assert kinds == ["Reasoning", "Text", "ToolCall", "ToolCall"]
    patch = resp.content[3]
    assert isinstance(patch, ir.ToolCall) and patch.kind == "custom" and patch.arguments.startswith("*** Begin")
    req = FORMAT.decode_request({"model": "gpt-5.5", "input": "weather?", "tools": golden["tools"]})
    assert FORMAT.encode_response(resp, req) == golden
    Response.model_validate(golden)


def foreign_response(**kw: Any) -> ir.Response:
    base: dict[str, Any] = dict(id="msg_01", model="claude-x", source="anthropic_messages", created=1700000000,
                                content=[ir.Text("Hello")], usage=ir.Usage(10, 5, cached_input_tokens=4))
    base.update(kw)
    return ir.Response(**base)


@pytest.mark.parametrize("finish, status, reason", [
    ("stop", "completed", None), ("tool_calls", "completed", None), ("length", "incomplete", "max_output_tokens"),
    ("content_filter", "incomplete", "content_filter"), ("refusal", "completed", None),
])
def test_encoded_responses_validate_with_the_sdk(finish: ir.FinishReason, status: str, reason: str | None) -> None:
    req = simple_request()
    content: list[ir.Part] = [ir.Text("Hello"), ir.Refusal("no"),
                              ir.ToolCall("call_1", "apply_patch", "*** Begin Patch\n", kind="custom"),
                              ir.ToolCall("toolu_2", "f", "{}")]
    body = FORMAT.encode_response(foreign_response(content=content, finish_reason=finish), req)
    parsed = Response.model_validate(body)
    assert parsed.status == status
    assert (parsed.incomplete_details.reason if parsed.incomplete_details else None) == reason
    assert parsed.output_text == "Hello"
    msg, custom, fn = body["output"]
    assert msg["id"].startswith("msg_") and msg["content"][1] == {"type": "refusal", "refusal": "no"}
    assert custom == {"id": custom["id"], "type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch",
                      "input": "*** Begin Patch\n"}  # peers #2/#3/#14: the raw string, not JSON
    assert custom["id"].startswith("ctc_") and fn["id"].startswith("fc_")
    assert body["usage"]["input_tokens_details"]["cached_tokens"] == 4 and body["usage"]["total_tokens"] == 15
    # ids are stable: the same response encodes to the same ids
    assert FORMAT.encode_response(foreign_response(content=content, finish_reason=finish), req) == body


def test_failed_response_carries_an_error() -> None:
    body = FORMAT.encode_response(foreign_response(finish_reason="error", content=[]), simple_request())
    assert body["status"] == "failed" and body["error"]["code"] == "server_error"
    Response.model_validate(body)
