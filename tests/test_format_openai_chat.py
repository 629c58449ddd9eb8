"""The openai_chat format: golden wire files, round trips, SDK validation, peers' failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from lockgate import ir
from lockgate.errors import InvalidRequest, TranslationError
from lockgate.formats.openai_chat import FORMAT, OpenAIChatFormat
from lockgate.formats.openai_chat.pairing import MISSING_RESULT
from lockgate.formats.sse import SseReader
from tests.fakes.chat_upstream import Rejected, validate

GOLDEN = Path(__file__).parent / "golden" / "openai_chat"
STRICT_ROLES = frozenset({"system", "user", "assistant", "tool"})


def golden(name: str) -> Any:
    return orjson.loads((GOLDEN / name).read_bytes())


def decode_stream(raw: bytes) -> list[ir.StreamEvent]:
    reader, dec = SseReader(), FORMAT.stream_decoder()
    events: list[ir.StreamEvent] = []
    for name, data in reader.feed(raw) + reader.close():
        events += dec.feed(name, data)
    return events + dec.close()


def sse_payloads(raw: bytes) -> list[bytes]:
    reader = SseReader()
    return [data for _, data in reader.feed(raw) + reader.close()]


def sdk_assemble(raw: bytes) -> tuple[list[ChatCompletionChunk], ChatCompletion]:
    """Every chunk through the SDK's model, then its own accumulator."""
    payloads = sse_payloads(raw)
    assert payloads[-1] == b"[DONE]" and b"[DONE]" not in payloads[:-1]
    chunks = [ChatCompletionChunk.model_validate(orjson.loads(p)) for p in payloads[:-1]]
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for c in chunks:
        state.handle_chunk(c)
    return chunks, state.get_final_completion()


# -- requests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["request_full.json", "request_legacy.json"])
def test_golden_request_round_trip(name: str) -> None:
    body = golden(name)
    assert FORMAT.encode_request(FORMAT.decode_request(body)) == body


def test_golden_request_decodes_to_ir() -> None:
    req = FORMAT.decode_request(golden("request_full.json"))
    assert req.source == "openai_chat" and req.stream and req.max_output_tokens == 2048
    assert [m.role for m in req.messages] == ["developer", "system", "user", "assistant", "tool", "tool",
                                              "assistant", "user"]
    user = req.messages[2].parts
    assert user[1] == ir.Image(url="https://example.com/cat.png", detail="high")
    assert user[2] == ir.Image(data="/9j/4AAQSkZJRg==", media_type="image/jpeg")
    assert user[3] == ir.File(data="JVBERi0xLjQ=", media_type="application/pdf", filename="spec.pdf")
    assert user[4] == ir.File(file_id="file-abc123")
    assert user[5] == ir.File(data="UklGRg==", media_type="audio/wav")
    reasoning, text, call_a, call_b = req.messages[3].parts
    assert reasoning == ir.Reasoning(text="Need the files.", source="openai_chat")
    assert text == ir.Text("Let me look.")
    assert call_a == ir.ToolCall("call_a", "read_file", '{"path":"README.md"}')
    assert call_b == ir.ToolCall("call_b", "apply_patch", "*** Begin Patch\n*** End Patch\n", kind="custom")
    assert req.messages[5].parts == [ir.ToolResult("call_b", [ir.Text("Done!")])]
    assert req.messages[6].parts == [ir.Refusal("I can't help with that.")]
    assert req.tools[1].format == {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
    assert req.tool_choice is not None and req.tool_choice.mode == "auto"
    assert req.response_format == ir.ResponseFormat("json_schema", "answer", {"type": "object", "properties": {
        "text": {"type": "string"}}}, True, "The answer")
    assert {k: req.extra[k] for k in ("seed", "n", "logprobs", "prompt_cache_key", "service_tier")} == {
        "seed": 7, "n": 1, "logprobs": False, "prompt_cache_key": "k1", "service_tier": "auto"}


def test_legacy_functions_pair_up() -> None:
    req = FORMAT.decode_request(golden("request_legacy.json"))
    call = req.messages[1].parts[0]
    result = req.messages[2].parts[0]
    assert isinstance(call, ir.ToolCall) and isinstance(result, ir.ToolResult)
    assert call.call_id == result.call_id and result.name == "get_weather" and result.content == "-3C"
    assert req.max_output_tokens == 100 and req.stop == ["END"]


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "video", "x": 1}]}]},
     "messages[0].content[0].type"),
    ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": 3}, "stop"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"}, "tool_choice"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}, "max_tokens"),
])
def test_bad_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        FORMAT.decode_request(body)
    assert e.value.param == param


def test_max_tokens_field_for_other_sources() -> None:
    req = ir.Request("m", [ir.Message("user", [ir.Text("hi")])], max_output_tokens=50, source="anthropic_messages")
    assert FORMAT.encode_request(req)["max_completion_tokens"] == 50
    assert OpenAIChatFormat(max_tokens_field="max_tokens").encode_request(req)["max_tokens"] == 50
    client = FORMAT.decode_request({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 9})
    assert FORMAT.encode_request(client) == {"model": "m", "messages": [{"role": "user", "content": "x"}],
                                             "max_tokens": 9}


def test_stream_asks_for_usage_unless_told_not_to() -> None:
    req = ir.Request("m", [ir.Message("user", [ir.Text("hi")])], stream=True, source="openai_responses")
    assert FORMAT.encode_request(req)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in OpenAIChatFormat(stream_usage=False).encode_request(req)


def test_translated_request_golden() -> None:
    """A Responses-style conversation in IR → the plain body every chat host accepts."""
    req = ir.Request(
        model="deepseek-chat", source="openai_responses", system=[ir.Text("Be terse.", cache_control={"t": 1})],
        messages=[
            ir.Message("developer", [ir.Text("Use tools.")]),
            ir.Message("user", [ir.Text("Fix the bug."), ir.Text("In main.py.")]),
            ir.Message("assistant", [ir.Reasoning(encrypted="gAAA", source="openai_responses")]),
            ir.Message("assistant", [ir.Text("Reading.")]),
            ir.Message("assistant", [ir.ToolCall("call_1", "read", '{"p":"main.py"}')]),
            ir.Message("assistant", [ir.ToolCall("call_2", "apply_patch", '{"input":"*** Begin Patch"}')]),
            ir.Message("user", [ir.Text("(meanwhile)")]),
            ir.Message("tool", [ir.ToolResult("call_2", "patched")]),
            ir.Message("tool", [ir.ToolResult("call_1", [ir.Text("print(1)"),
                                                         ir.Image(data="iVBO", media_type="image/png")])]),
        ],
        tools=[ir.Tool("read", "Read a file", {"type": "object"}, cache_control={"t": 1}),
               ir.Tool("apply_patch", None, {"type": "object", "properties": {"input": {"type": "string"}}})],
        tool_choice=ir.ToolChoice("tool", "read"), parallel_tool_calls=True, max_output_tokens=100,
        reasoning_effort="high", metadata={"a": "b"}, user="u", stop=["X"], temperature=0.5,
        response_format=ir.ResponseFormat("json_object"), stream=True, extra={"store": False, "include": []})
    body = FORMAT.encode_request(req)
    assert body == golden("request_translated.json")
    validate(body, STRICT_ROLES)


# -- hypothesis: a chat request survives decode → encode unchanged -----------------------------------

_text = st.text(max_size=12)
_json = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | _text,
                     lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_text, kids, max_size=3), max_leaves=6)
_text_part = st.builds(lambda t, cc: {"type": "text", "text": t, **({"cache_control": cc} if cc else {})},
                       _text, st.none() | st.just({"type": "ephemeral"}))
_image = st.builds(lambda url, detail: {"type": "image_url", "image_url": {"url": url, **(
    {"detail": detail} if detail else {})}},
    st.sampled_from(["https://x.test/a.png", "data:image/png;base64,iVBORw0K", "data:image/webp;base64,UklG"]),
    st.none() | st.sampled_from(["low", "high", "auto"]))
_file = st.sampled_from([
    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
    {"type": "file", "file": {"file_id": "file-1"}},
    {"type": "input_audio", "input_audio": {"data": "UklG", "format": "mp3"}}])
_user_content = _text | st.lists(st.one_of(_text_part, _image, _file), min_size=1, max_size=4)
_text_content = _text | st.lists(_text_part, min_size=1, max_size=3)


@st.composite
def _turn(draw: st.DrawFn, n: int) -> list[dict[str, Any]]:
    """An assistant message (maybe with calls) and the tool messages answering them, in order."""
    msg: dict[str, Any] = {"role": "assistant"}
    calls = []
    for j in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            calls.append({"id": f"call_{n}_{j}", "type": "function",
                          "function": {"name": draw(st.sampled_from(["f", "g"])), "arguments": '{"a": 1}'}})
        else:
            calls.append({"id": f"call_{n}_{j}", "type": "custom", "custom": {"name": "patch", "input": draw(_text)}})
    content = draw(st.sampled_from(["absent", "null", "text", "parts"]) if calls else st.sampled_from(
        ["text", "parts"]))
    if content == "null":
        msg["content"] = None
    elif content == "text":
        msg["content"] = draw(_text)
        if draw(st.booleans()):
            msg["refusal"] = draw(_text)
    elif content == "parts":
        msg["content"] = draw(_text_content.filter(lambda c: isinstance(c, list)))
    if draw(st.booleans()):
        msg["reasoning_content"] = draw(_text)
    if calls:
        msg["tool_calls"] = calls
    if draw(st.booleans()):
        msg["name"] = "bot"
    return [msg] + [{"role": "tool", "tool_call_id": c["id"], "content": draw(_text_content)} for c in calls]


@st.composite
def chat_requests(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for n in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["system", "developer", "user", "turn"]))
        if kind == "turn":
            messages += draw(_turn(n))
        elif kind == "user":
            messages.append({"role": "user", "content": draw(_user_content)})
        else:
            messages.append({"role": kind, "content": draw(_text_content)})
    body: dict[str, Any] = {"model": draw(st.sampled_from(["gpt-5", "deepseek-chat"])), "messages": messages}
    opt = draw(st.fixed_dictionaries({}, optional={
        "tools": st.lists(st.one_of(
            st.builds(lambda name, strict: {"type": "function", "function": {
                "name": name, "description": "d", "parameters": {"type": "object"}, **(
                    {"strict": strict} if strict is not None else {})}}, st.sampled_from(["f", "g"]),
                st.none() | st.booleans()),
            st.just({"type": "custom", "custom": {"name": "patch", "format": {"type": "text"}}}),
            st.just({"type": "web_search_preview"})), min_size=1, max_size=3),
        "tool_choice": st.sampled_from(["auto", "none", "required", {"type": "function", "function": {"name": "f"}},
                                        {"type": "custom", "custom": {"name": "patch"}}]),
        "temperature": st.floats(0, 2), "top_p": st.floats(0, 1),
        "stop": st.one_of(_text, st.lists(_text, min_size=1, max_size=3)),
        "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}, {
            "type": "json_schema", "json_schema": {"name": "o", "schema": {"type": "object"}, "strict": True}}]),
        "reasoning_effort": st.sampled_from(["minimal", "low", "high"]),
        "metadata": st.dictionaries(_text, _text, max_size=2), "user": _text,
        "seed": st.integers(0, 9), "n": st.just(1), "x_vendor": _json,
    }))
    if "tool_choice" in opt or draw(st.booleans()):
        opt.setdefault("tools", [{"type": "function", "function": {"name": "f"}}])
    if "tools" in opt and draw(st.booleans()):
        opt["parallel_tool_calls"] = draw(st.booleans())
    if opt.get("metadata") == {}:
        del opt["metadata"]
    limit = draw(st.sampled_from([None, "max_tokens", "max_completion_tokens"]))
    if limit:
        opt[limit] = draw(st.integers(1, 10_000))
    stream = draw(st.sampled_from([None, False, True]))
    if stream is not None:
        opt["stream"] = stream
    if stream:
        opt["stream_options"] = {"include_usage": True}
    return {**body, **opt}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat_requests())
def test_chat_request_round_trips_unchanged(body: dict[str, Any]) -> None:
    assert FORMAT.encode_request(FORMAT.decode_request(body)) == body


# -- responses ---------------------------------------------------------------------------------------

def test_golden_response_decodes() -> None:
    resp = FORMAT.decode_response(golden("response_tool_calls.json"))
    assert resp.finish_reason == "tool_calls" and resp.id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert resp.content == [ir.Text("Checking the weather."),
                            ir.ToolCall("call_12345xyz", "get_weather", '{"location":"Paris, France"}'),
                            ir.ToolCall("call_custom1", "apply_patch", "*** Begin Patch\n*** End Patch\n",
                                        kind="custom")]
    assert resp.usage == ir.Usage(input_tokens=1117, output_tokens=46, cached_input_tokens=1024, reasoning_tokens=12)
    assert resp.extra["system_fingerprint"] == "fp_fc9f1d7035" and resp.extra["service_tier"] == "default"


def test_deepseek_response_reasoning_and_cache_hits() -> None:
    resp = FORMAT.decode_response(golden("response_deepseek_reasoning.json"))
    assert resp.content[0] == ir.Reasoning(text="Compare 9.11 and 9.8: 0.11 < 0.8.", source="openai_chat")
    assert resp.usage is not None and resp.usage.cached_input_tokens == 8 and resp.usage.reasoning_tokens == 190


@pytest.mark.parametrize("name", ["response_tool_calls.json", "response_deepseek_reasoning.json"])
def test_encoded_response_is_what_the_sdk_reads(name: str) -> None:
    body = golden(name)
    resp = FORMAT.decode_response(body)
    req = ir.Request(body["model"], [], source="openai_chat")
    out = FORMAT.encode_response(resp, req)
    parsed = ChatCompletion.model_validate(out)
    assert orjson.loads(parsed.model_dump_json(exclude_unset=True)) == out
    assert out["choices"][0]["finish_reason"] == body["choices"][0]["finish_reason"]
    assert out["choices"][0]["message"]["content"] == body["choices"][0]["message"]["content"]
    assert out["system_fingerprint"] == body["system_fingerprint"]


def test_response_from_another_format() -> None:
    resp = ir.Response("msg_01", "claude-x", [
        ir.Reasoning(text="hmm", signature="sig", source="anthropic_messages"), ir.Text("Hi "), ir.Text("there"),
        ir.ToolCall("toolu_1", "f", '{"a":1}')], finish_reason="tool_calls",
        usage=ir.Usage(10, 5, cached_input_tokens=4), source="anthropic_messages", extra={"stop_details": 1})
    out = FORMAT.encode_response(resp, ir.Request("claude-x", []))
    ChatCompletion.model_validate(out)
    assert out["choices"][0]["message"] == {
        "role": "assistant", "content": "Hi there", "refusal": None, "reasoning_content": "hmm",
        "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]}
    assert "stop_details" not in out
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}


# -- stream decoding ---------------------------------------------------------------------------------

def _summary(events: list[ir.StreamEvent]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for e in events:
        if isinstance(e, ir.StreamPartStart):
            out.append(("start", e.index, type(e.part).__name__))
        elif isinstance(e, ir.StreamPartDelta):
            out.append(("delta", e.index, e.kind, e.text))
        elif isinstance(e, ir.StreamPartEnd):
            value = e.part.arguments if isinstance(e.part, ir.ToolCall) else getattr(e.part, "text", None)
            out.append(("end", e.index, value))
        else:
            out.append((type(e).__name__,))
    return out


def test_golden_stream_openai_tools() -> None:
    events = decode_stream((GOLDEN / "stream_openai_tools.sse").read_bytes())
    assert _summary(events) == [
        ("StreamStart",), ("start", 0, "Text"), ("delta", 0, "text", "Let me"), ("delta", 0, "text", " check."),
        ("end", 0, "Let me check."), ("start", 1, "ToolCall"), ("delta", 1, "arguments", '{"location":'),
        ("delta", 1, "arguments", ' "Paris"}'), ("end", 1, '{"location": "Paris"}'), ("start", 2, "ToolCall"),
        ("delta", 2, "arguments", '{"tz": "CET"}'), ("end", 2, '{"tz": "CET"}'), ("StreamFinish",)]
    start = events[5]
    assert isinstance(start, ir.StreamPartStart) and start.part == ir.ToolCall(
        "call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", "")
    assert isinstance(events[1], ir.StreamPartStart) and events[1].part == ir.Text("")
    finish = events[-1]
    assert isinstance(finish, ir.StreamFinish) and finish.finish_reason == "tool_calls"
    assert finish.usage == ir.Usage(80, 30, cached_input_tokens=64)


def test_golden_stream_args_only_at_end() -> None:
    events = decode_stream((GOLDEN / "stream_openrouter_args_at_end.sse").read_bytes())
    assert _summary(events) == [
        ("StreamStart",), ("start", 0, "ToolCall"), ("delta", 0, "arguments", '{"file_path":"/a.py"}'),
        ("end", 0, '{"file_path":"/a.py"}'), ("start", 1, "ToolCall"), ("delta", 1, "arguments", '{"pattern":"TODO"}'),
        ("end", 1, '{"pattern":"TODO"}'), ("StreamFinish",)]
    finish = events[-1]
    assert isinstance(finish, ir.StreamFinish) and finish.usage is not None and finish.usage.cached_input_tokens == 50


def test_golden_stream_reasoning() -> None:
    events = decode_stream((GOLDEN / "stream_deepseek_reasoning.sse").read_bytes())
    assert _summary(events) == [
        ("StreamStart",), ("start", 0, "Reasoning"), ("delta", 0, "reasoning", "Compare"),
        ("delta", 0, "reasoning", " the decimals."), ("end", 0, "Compare the decimals."), ("start", 1, "Text"),
        ("delta", 1, "text", "9.11"), ("delta", 1, "text", " is smaller."), ("end", 1, "9.11 is smaller."),
        ("StreamFinish",)]
    end = events[4]
    assert isinstance(end, ir.StreamPartEnd) and isinstance(end.part, ir.Reasoning)
    assert end.part.source == "openai_chat"


def test_golden_stream_error() -> None:
    events = decode_stream((GOLDEN / "stream_error.sse").read_bytes())
    assert isinstance(events[-1], ir.StreamError)
    assert events[-1].message == "The server had an error while processing your request."
    assert events[-1].code == "server_error"


def test_stream_cut_off_has_no_finish() -> None:
    raw = (GOLDEN / "stream_openai_tools.sse").read_bytes().split(b"\n\n")
    events = decode_stream(b"\n\n".join(raw[:5]) + b"\n\n")
    assert not any(isinstance(e, ir.StreamFinish) for e in events)


def test_no_arg_function_gets_empty_object() -> None:
    raw = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in [
        {"id": "x", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "c", "type": "function", "function": {"name": "now", "arguments": ""}}]}}]},
        {"id": "x", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}]) + \
        b"data: [DONE]\n\n"
    assert ("end", 0, "{}") in _summary(decode_stream(raw))


# -- stream encoding ---------------------------------------------------------------------------------

def _client_req(include_usage: bool) -> ir.Request:
    body: dict[str, Any] = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return FORMAT.decode_request(body)


IR_EVENTS: list[ir.StreamEvent] = [
    ir.StreamStart("chatcmpl-1", "gpt-4o", 1741570283),
    ir.StreamPartStart(0, ir.Text("")), ir.StreamPartDelta(0, "Hel"), ir.StreamPartDelta(0, "lo"),
    ir.StreamPartEnd(0, ir.Text("Hello")),
    ir.StreamPartStart(1, ir.ToolCall("call_1", "get_weather", "")),
    ir.StreamPartDelta(1, '{"city":', "arguments"), ir.StreamPartDelta(1, '"Oslo"}', "arguments"),
    ir.StreamPartEnd(1, ir.ToolCall("call_1", "get_weather", '{"city":"Oslo"}')),
    # an upstream that gives only the final arguments
    ir.StreamPartStart(2, ir.ToolCall("call_2", "get_time", "")),
    ir.StreamPartEnd(2, ir.ToolCall("call_2", "get_time", '{"tz":"CET"}')),
    ir.StreamFinish("tool_calls", ir.Usage(20, 9, cached_input_tokens=3, reasoning_tokens=2)),
]


def _encode(events: list[ir.StreamEvent], req: ir.Request, error: ir.StreamError | None = None) -> bytes:
    enc = FORMAT.stream_encoder(req)
    return b"".join(enc.feed(e) for e in events) + enc.finish(error)


def test_stream_encoder_golden_and_sdk() -> None:
    raw = _encode(IR_EVENTS, _client_req(include_usage=True))
    assert raw == (GOLDEN / "stream_encoded.sse").read_bytes()
    chunks, final = sdk_assemble(raw)
    msg = final.choices[0].message
    assert msg.content == "Hello" and final.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.name, c.function.arguments) for c in msg.tool_calls or []] == [  # type: ignore[union-attr]
        ("call_1", "get_weather", '{"city":"Oslo"}'), ("call_2", "get_time", '{"tz":"CET"}')]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 20 and chunks[-1].usage.completion_tokens == 9
    assert chunks[0].choices[0].delta.role == "assistant"


def test_stream_encoder_no_usage_chunk_unless_asked() -> None:
    raw = _encode(IR_EVENTS, _client_req(include_usage=False))
    chunks, _ = sdk_assemble(raw)
    assert all(c.choices and c.usage is None for c in chunks)
    assert b'"usage"' not in raw


def test_stream_encoder_failure_ending() -> None:
    raw = _encode(IR_EVENTS[:3], _client_req(include_usage=True), ir.StreamError("upstream died", status=502))
    payloads = sse_payloads(raw)
    assert payloads[-1] == b"[DONE]"
    assert orjson.loads(payloads[-2]) == {"error": {"message": "upstream died", "type": "server_error",
                                                    "param": None, "code": "upstream_error"}}
    # no finish at all: still an error and [DONE]
    payloads = sse_payloads(_encode([], _client_req(include_usage=False)))
    assert b"error" in payloads[-2] and payloads[-1] == b"[DONE]"


def test_stream_encoder_reasoning_and_refusal() -> None:
    raw = _encode([ir.StreamStart("c", "m"), ir.StreamPartStart(0, ir.Reasoning(source="anthropic_messages")),
                   ir.StreamPartDelta(0, "think", "reasoning"),
                   ir.StreamPartEnd(0, ir.Reasoning(text="think", signature="s", source="anthropic_messages")),
                   ir.StreamPartStart(1, ir.Refusal("")), ir.StreamPartEnd(1, ir.Refusal("No.")),
                   ir.StreamFinish("refusal")], _client_req(include_usage=False))
    chunks, final = sdk_assemble(raw)
    assert final.choices[0].message.refusal == "No." and final.choices[0].finish_reason == "stop"
    assert [getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks][1] == "think"


@pytest.mark.parametrize("name", ["stream_openai_tools.sse", "stream_openrouter_args_at_end.sse",
                                  "stream_deepseek_reasoning.sse"])
def test_upstream_stream_through_to_chat_client(name: str) -> None:
    """Decoder → encoder: what a chat client sees equals the non-streamed reading."""
    events = decode_stream((GOLDEN / name).read_bytes())
    _, final = sdk_assemble(_encode(events, _client_req(include_usage=True)))
    parts = [e.part for e in events if isinstance(e, ir.StreamPartEnd)]
    calls = [p for p in parts if isinstance(p, ir.ToolCall)]
    got = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.arguments) for c in got] == [  # type: ignore[union-attr]
        (c.call_id, c.arguments) for c in calls]
    texts = "".join(p.text for p in parts if isinstance(p, ir.Text))
    assert (final.choices[0].message.content or "") == texts


def test_custom_tool_call_stream_shape() -> None:
    raw = _encode([ir.StreamStart("c", "m"), ir.StreamPartStart(0, ir.ToolCall("c1", "apply_patch", "", "custom")),
                   ir.StreamPartDelta(0, "*** Begin", "arguments"),
                   ir.StreamPartEnd(0, ir.ToolCall("c1", "apply_patch", "*** Begin Patch", "custom")),
                   ir.StreamFinish("tool_calls")], _client_req(include_usage=False))
    deltas = [orjson.loads(p)["choices"][0]["delta"] for p in sse_payloads(raw)[:-1]]
    assert deltas[1:4] == [
        {"tool_calls": [{"index": 0, "id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": ""}}]},
        {"tool_calls": [{"index": 0, "custom": {"input": "*** Begin"}}]},
        {"tool_calls": [{"index": 0, "custom": {"input": " Patch"}}]}]


# -- peers §3.3 ----------------------------------------------------------------------------------------

def _ir(*messages: ir.Message, source: str = "openai_responses") -> ir.Request:
    return ir.Request("m", [ir.Message("user", [ir.Text("go")]), *messages], source=source)


def test_peers_5_tool_result_parts_become_text() -> None:
    req = _ir(ir.Message("assistant", [ir.ToolCall("c1", "shot", "{}")]),
              ir.Message("tool", [ir.ToolResult("c1", [ir.Text("see image"), ir.Image(url="https://x.test/a.png"),
                                                       ir.Text("done")])]), source="anthropic_messages")
    body = FORMAT.encode_request(req)
    validate(body, STRICT_ROLES)
    tool = body["messages"][2]
    assert tool == {"role": "tool", "tool_call_id": "c1", "content": "see image\n\n[image: https://x.test/a.png]\n\ndone"}
    # the image itself follows the tool block in a user message, so it is not lost
    assert body["messages"][3]["role"] == "user"
    assert body["messages"][3]["content"][1] == {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}


def test_peers_6_text_and_tool_call_stay_together() -> None:
    req = _ir(ir.Message("assistant", [ir.Text("I'll look."), ir.ToolCall("c1", "f", "{}")]),
              ir.Message("tool", [ir.ToolResult("c1", "ok")]))
    msgs = FORMAT.encode_request(req)["messages"]
    assert msgs[1] == {"role": "assistant", "content": "I'll look.",
                       "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    # also when the other format gave them as separate items (Responses message + function_call)
    split = _ir(ir.Message("assistant", [ir.Text("I'll look.")]),
                ir.Message("assistant", [ir.ToolCall("c1", "f", "{}")]),
                ir.Message("tool", [ir.ToolResult("c1", "ok")]))
    assert FORMAT.encode_request(split)["messages"][1] == msgs[1]


def test_peers_10_tool_calls_followed_by_their_tool_messages() -> None:
    req = _ir(
        ir.Message("assistant", [ir.ToolCall("c1", "f", "{}"), ir.ToolCall("c2", "g", "{}"),
                                 ir.ToolCall("c3", "h", "{}")]),
        ir.Message("assistant", [ir.Reasoning(text="r", source="anthropic_messages")]),
        ir.Message("user", [ir.Text("hurry")]),
        ir.Message("tool", [ir.ToolResult("c2", "two")]),
        ir.Message("tool", [ir.ToolResult("c1", "one"), ir.ToolResult("c1", "one again")]),
        ir.Message("tool", [ir.ToolResult("zz", "orphan")]),
    )
    body = FORMAT.encode_request(req)
    validate(body, STRICT_ROLES)  # the strict host accepts it
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "tool", "user", "user"]
    assert [(m["tool_call_id"], m["content"]) for m in msgs[2:5]] == [
        ("c1", "one\n\none again"), ("c2", "two"), ("c3", MISSING_RESULT)]
    assert msgs[5]["content"] == "hurry"
    assert msgs[6]["content"] == "Result of tool call zz:\norphan"


def test_peers_10_unpaired_chat_request_is_what_the_strict_host_rejects() -> None:
    bad = {"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "user", "content": "y"}, {"role": "tool", "tool_call_id": "c1", "content": "r"}]}
    with pytest.raises(Rejected):
        validate(bad, STRICT_ROLES)
    fixed = FORMAT.encode_request(FORMAT.decode_request(bad))
    validate(fixed, STRICT_ROLES)
    assert [m["role"] for m in fixed["messages"]] == ["user", "assistant", "tool", "user"]


def test_foreign_reasoning_dropped_own_kept() -> None:
    req = _ir(ir.Message("assistant", [ir.Reasoning(text="mine", source="openai_chat"), ir.Text("a")]),
              ir.Message("user", [ir.Text("b")]),
              ir.Message("assistant", [ir.Reasoning(text="theirs", encrypted="x", source="openai_responses"),
                                       ir.Text("c")]))
    msgs = FORMAT.encode_request(req)["messages"]
    assert msgs[1] == {"role": "assistant", "reasoning_content": "mine", "content": "a"}
    assert msgs[3] == {"role": "assistant", "content": "c"}


def test_untranslatable_inputs_raise() -> None:
    with pytest.raises(TranslationError):
        FORMAT.encode_request(ir.Request("m", [ir.Message("user", [ir.File(url="https://x.test/a.pdf")])]))
    with pytest.raises(TranslationError):
        FORMAT.encode_request(ir.Request("m", [ir.Message("user", [ir.Text("x")])], builtin_tools=[
            ir.BuiltinTool("web_search", {"type": "web_search"}, "openai_responses")]))


# -- against the strict chat-only fake host -------------------------------------------------------------

@pytest.mark.parametrize("model", ["fake-chat", "fake-args-at-end", "fake-reasoning"])
def test_translated_turns_against_strict_host(model: str) -> None:
    import httpx

    from tests.fakes.chat_upstream import PATCH, FakeChatHost

    tools = [ir.Tool("apply_patch", None, {"type": "object", "properties": {"input": {"type": "string"}}})]
    req = ir.Request(model, [ir.Message("developer", [ir.Text("Patch things.")]),
                             ir.Message("user", [ir.Text("add hello.txt")])],
                     tools=tools, stream=True, source="openai_responses")
    with FakeChatHost() as host:
        def post(body: dict[str, Any]) -> httpx.Response:
            return httpx.post(host.url + "/chat/completions", json=body,
                              headers={"authorization": f"Bearer {host.api_key}"})

        r = post(FORMAT.encode_request(req))
        assert r.status_code == 200, r.text
        events = decode_stream(r.content)
        calls = [e.part for e in events if isinstance(e, ir.StreamPartEnd) and isinstance(e.part, ir.ToolCall)]
        assert len(calls) == 1 and orjson.loads(calls[0].arguments) == {"input": PATCH}
        finish = events[-1]
        assert isinstance(finish, ir.StreamFinish) and finish.finish_reason == "tool_calls"
        assert finish.usage is not None and finish.usage.input_tokens > 0
        # next turn, Responses-style: the call, a message in between, then the output
        req.messages += [ir.Message("assistant", [calls[0]]), ir.Message("user", [ir.Text("status?")]),
                         ir.Message("tool", [ir.ToolResult(calls[0].call_id, [ir.Text("Done!")])])]
        req.stream, req.tool_choice = False, ir.ToolChoice("none")
        r = post(FORMAT.encode_request(req))
        assert r.status_code == 200, r.text
        resp = FORMAT.decode_response(r.json())
    assert resp.finish_reason == "stop"
    texts = [p for p in resp.content if isinstance(p, ir.Text)]
    assert texts == [ir.Text("Hello from the chat fake: status?")]  # the user message now comes after the result
