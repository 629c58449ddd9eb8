"""The anthropic_messages format: golden wire files, SDK validation, round trips, peers #20/#22/#23."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from lockgate import ir
from lockgate.errors import InvalidRequest, TranslationError
from lockgate.formats.anthropic_messages import DEFAULT_MAX_TOKENS, FORMAT
from lockgate.formats.sse import SseReader
from tests.fakes.anthropic_upstream import FakeAnthropic, Invalid, validate

GOLDEN = Path(__file__).parent / "golden" / "anthropic_messages"
PARAMS = TypeAdapter(MessageCreateParamsNonStreaming)


def golden(name: str) -> Any:
    return orjson.loads((GOLDEN / name).read_bytes())


def api_accepts(body: dict[str, Any]) -> None:
    """What the SDK's request types and the fake upstream's API checks both accept."""
    PARAMS.validate_python({k: v for k, v in body.items() if k != "stream"})
    validate(body)


def events_of(raw: bytes) -> list[tuple[str | None, bytes]]:
    reader = SseReader()
    return reader.feed(raw) + reader.close()


def decode_stream(raw: bytes) -> list[ir.StreamEvent]:
    dec = FORMAT.stream_decoder()
    out: list[ir.StreamEvent] = []
    for name, data in events_of(raw):
        out += dec.feed(name, data)
    return out + dec.close()


def sdk_final_message(raw: bytes) -> anthropic.types.Message:
    """Runs SSE bytes through the anthropic SDK's own stream accumulator."""
    # This SDK generation runs on httpx2 (an httpx fork); its MockTransport serves the bytes.
    transport = httpx2.MockTransport(lambda _: httpx2.Response(200, content=raw,
                                                               headers={"content-type": "text/event-stream"}))
    client = anthropic.Anthropic(api_key="k", base_url="http://fake", http_client=httpx2.Client(transport=transport),
                                 max_retries=0)
    with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as s:
        return s.get_final_message()


# -- golden requests ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["request_text.json", "request_tools.json", "request_thinking.json",
                                  "request_images.json", "request_cache_control.json"])
def test_golden_request_round_trip(name: str) -> None:
    body = golden(name)
    assert FORMAT.encode_request(FORMAT.decode_request(body)) == body
    if name == "request_thinking.json":  # real signatures: the fake (rightly) rejects them
        PARAMS.validate_python({k: v for k, v in body.items() if k != "stream"})
    else:
        api_accepts(body)


def test_golden_text_request_ir() -> None:
    req = FORMAT.decode_request(golden("request_text.json"))
    assert [t.text for t in req.system] == ["You are a helpful assistant."]
    assert [(m.role, m.parts[0].text) for m in req.messages if isinstance(m.parts[0], ir.Text)] == [
        ("user", "Hello there."), ("assistant", "Hi, I'm Claude. How can I help you?"),
        ("user", "Can you explain LLMs in plain English?")]
    assert (req.max_output_tokens, req.temperature, req.top_k, req.stop) == (1024, 0.7, 40, ["\n\nHuman:"])
    assert req.user == "13803d75-b4b5-4c3e-b2a2-6f21399b021b" and req.metadata == {}
    assert req.extra == {"service_tier": "auto", "_system_string": True}


def test_golden_tools_request_ir() -> None:
    req = FORMAT.decode_request(golden("request_tools.json"))
    assert [t.name for t in req.tools] == ["get_weather"]
    assert [(b.type, b.source) for b in req.builtin_tools] == [
        ("web_search_20250305", "anthropic_messages"), ("bash_20250124", "anthropic_messages"),
        ("text_editor_20250728", "anthropic_messages")]
    assert req.tool_choice == ir.ToolChoice(mode="required") and req.parallel_tool_calls is False
    roles = [m.role for m in req.messages]
    assert roles == ["user", "assistant", "tool"]
    calls = [p for p in req.messages[1].parts if isinstance(p, ir.ToolCall)]
    assert [orjson.loads(c.arguments) for c in calls] == [{"location": "San Francisco, CA", "unit": "celsius"},
                                                          {"location": "Paris, France"}]
    results = req.messages[2].parts
    assert results[0] == ir.ToolResult("toolu_01A09q90qw90lq917835lq9", "15 degrees")
    assert isinstance(results[1], ir.ToolResult) and results[1].is_error
    assert results[1].content == [ir.Text("Error: service unavailable")]


def test_golden_thinking_request_ir() -> None:
    body = golden("request_thinking.json")
    req = FORMAT.decode_request(body)
    assert req.thinking_budget == 10000 and req.stream
    thinking, redacted = req.messages[1].parts[:2]
    assert isinstance(thinking, ir.Reasoning) and isinstance(redacted, ir.Reasoning)
    assert thinking.signature == body["messages"][1]["content"][0]["signature"]
    assert thinking.source == redacted.source == "anthropic_messages"
    assert redacted.redacted and redacted.encrypted == body["messages"][1]["content"][1]["data"]


def test_golden_images_request_ir() -> None:
    parts = FORMAT.decode_request(golden("request_images.json")).messages[0].parts
    png, url, pdf, text, pdf_url, file = parts[:6]
    assert isinstance(png, ir.Image) and png.media_type == "image/png" and png.data
    assert isinstance(url, ir.Image) and url.url and url.url.endswith(".jpg")
    assert isinstance(pdf, ir.File) and (pdf.media_type, pdf.filename) == ("application/pdf", "report.pdf")
    assert isinstance(text, ir.File) and text.media_type == "text/plain" and text.data
    assert base64.b64decode(text.data) == b"The grass is green. The sky is blue."
    assert text.extra == {"context": "This is a trustworthy document.", "citations": {"enabled": True}}
    assert isinstance(pdf_url, ir.File) and pdf_url.url
    assert isinstance(file, ir.File) and file.file_id == "file_011CNha8iCJcU1wXNR6q4V8w"


def test_golden_cache_control_ir() -> None:
    req = FORMAT.decode_request(golden("request_cache_control.json"))
    assert req.system[1].cache_control == {"type": "ephemeral"}
    assert req.tools[0].cache_control == {"type": "ephemeral", "ttl": "1h"}
    first = req.messages[0].parts[0]
    assert isinstance(first, ir.Text) and first.cache_control == {"type": "ephemeral"}


# -- golden responses -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["response_text.json", "response_tools.json", "response_thinking.json"])
def test_golden_response_round_trip(name: str) -> None:
    body = golden(name)
    resp = FORMAT.decode_response(body)
    out = FORMAT.encode_response(resp, FORMAT.decode_request(golden("request_text.json")))
    assert out == body
    anthropic.types.Message.model_validate(out)


def test_golden_response_usage_and_reasons() -> None:
    text = FORMAT.decode_response(golden("response_text.json"))
    assert text.usage == ir.Usage(input_tokens=2095 + 2051 + 1800, output_tokens=503, cached_input_tokens=1800,
                                  cache_write_tokens=2051, cache_write_1h_tokens=2000)
    assert text.finish_reason == "stop" and text.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    tools = FORMAT.decode_response(golden("response_tools.json"))
    assert tools.finish_reason == "tool_calls"
    call = tools.content[1]
    assert isinstance(call, ir.ToolCall) and call.call_id == "toolu_01A09q90qw90lq917835lq9"
    thinking = FORMAT.decode_response(golden("response_thinking.json"))
    assert thinking.finish_reason == "length" and thinking.usage and thinking.usage.reasoning_tokens == 1700


@pytest.mark.parametrize(("stop", "finish"), [("end_turn", "stop"), ("stop_sequence", "stop"),
                                              ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                              ("refusal", "refusal"), ("pause_turn", "pause"),
                                              ("model_context_window_exceeded", "length")])
def test_stop_reasons_round_trip(stop: str, finish: str) -> None:
    body = {**golden("response_text.json"), "stop_reason": stop,
            "stop_sequence": "###" if stop == "stop_sequence" else None}
    resp = FORMAT.decode_response(body)
    assert resp.finish_reason == finish
    assert FORMAT.encode_response(resp, ir.Request("m", []))["stop_reason"] == stop


def test_foreign_response_encodes_for_the_sdk() -> None:
    resp = ir.Response(id="chatcmpl-1", model="gpt-x", source="openai_chat", finish_reason="tool_calls",
                       usage=ir.Usage(input_tokens=100, output_tokens=20, cached_input_tokens=60),
                       content=[ir.Text("Let me look."), ir.ToolCall("call.1:x", "apply_patch", "*** Begin Patch",
                                                                      kind="custom"),
                                ir.ToolCall("call_2", "f", "not json"), ir.ToolCall("call_3", "g", "")])
    out = FORMAT.encode_response(resp, ir.Request("m", []))
    msg = anthropic.types.Message.model_validate(out)
    assert msg.id == "msg_chatcmpl-1" and msg.stop_reason == "tool_use"
    assert msg.usage.input_tokens == 40 and msg.usage.cache_read_input_tokens == 60
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert [b.input for b in uses] == [{"input": "*** Begin Patch"}, {"input": "not json"}, {}]
    assert uses[0].id.startswith("call_1_x_")


# -- streams --------------------------------------------------------------------------------------

def test_golden_stream_decode_tools() -> None:
    events = decode_stream((GOLDEN / "stream_tools.sse").read_bytes())
    assert isinstance(events[0], ir.StreamStart) and events[0].usage == ir.Usage(input_tokens=472, output_tokens=2)
    ends = [e for e in events if isinstance(e, ir.StreamPartEnd)]
    assert ends[0].part == ir.Text("Okay, let's check the weather for San Francisco, CA:")
    call = ends[1].part
    assert isinstance(call, ir.ToolCall) and call.call_id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert orjson.loads(call.arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert [e.text for e in events if isinstance(e, ir.StreamPartDelta) and e.kind == "arguments"] == [
        '{"location":', ' "San Francisc', 'o, CA", "unit": "fahrenheit"}']
    assert events[-1] == ir.StreamFinish("tool_calls", ir.Usage(input_tokens=472, output_tokens=89))


def test_golden_stream_decode_thinking_and_cumulative_usage() -> None:
    events = decode_stream((GOLDEN / "stream_thinking.sse").read_bytes())
    thinking = next(e.part for e in events if isinstance(e, ir.StreamPartEnd))
    assert isinstance(thinking, ir.Reasoning) and thinking.source == "anthropic_messages"
    assert thinking.signature == "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."
    assert thinking.text.endswith("So GCD(1071, 462) = 21")
    assert events[-1] == ir.StreamFinish("stop", ir.Usage(input_tokens=130, output_tokens=245, cache_write_tokens=100,
                                                          cache_write_1h_tokens=100))


def test_stream_decode_error_and_ping() -> None:
    dec = FORMAT.stream_decoder()
    assert dec.feed("ping", b'{"type": "ping"}') == []
    assert dec.feed("error", b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}') == [
        ir.StreamError("Overloaded", code="overloaded_error", status=529)]


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tools.sse", "stream_thinking.sse"])
def test_golden_stream_reencoded_matches_in_the_sdk(name: str) -> None:
    """decode → encode: the SDK's accumulator builds the same message from both streams."""
    raw = (GOLDEN / name).read_bytes()
    enc = FORMAT.stream_encoder(ir.Request("m", []))
    out = b"".join(enc.feed(e) for e in decode_stream(raw)) + enc.finish()
    assert b"event: error" not in out
    want, got = sdk_final_message(raw), sdk_final_message(out)
    assert got.content == want.content and got.id == want.id and got.stop_reason == want.stop_reason
    assert (got.usage.input_tokens, got.usage.output_tokens) == (want.usage.input_tokens, want.usage.output_tokens)
    names = [n for n, _ in events_of(out)]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]


def test_stream_encoder_synthesizes_argument_delta_and_wraps_foreign_reasoning() -> None:
    enc = FORMAT.stream_encoder(ir.Request("m", []))
    r = ir.Reasoning(text="", summary=["Plan it"], encrypted="gAAAAB...", source="openai_responses", item_id="rs_1")
    events: list[ir.StreamEvent] = [
        ir.StreamStart("resp_1", "gpt-x", usage=ir.Usage(input_tokens=10)),
        ir.StreamPartStart(0, ir.Reasoning(source="openai_responses")), ir.StreamPartDelta(0, "Plan it", "summary"),
        ir.StreamPartEnd(0, r),
        ir.StreamPartStart(1, ir.ToolCall("call_1", "f", "")),
        ir.StreamPartEnd(1, ir.ToolCall("call_1", "f", '{"a":1}')),
        ir.StreamFinish("tool_calls", ir.Usage(input_tokens=10, output_tokens=5))]
    msg = sdk_final_message(b"".join(enc.feed(e) for e in events) + enc.finish())
    thinking, call = msg.content
    assert call.type == "tool_use" and call.input == {"a": 1}
    assert thinking.type == "thinking" and thinking.thinking == "Plan it"
    # The client sends the block back: it decodes to the original reasoning, which never goes to Anthropic.
    back = FORMAT.decode_request({"model": "m", "messages": [
        {"role": "user", "content": "x"}, {"role": "assistant", "content": [thinking.model_dump()]}]})
    assert back.messages[1].parts == [r]
    assert FORMAT.encode_request(back)["messages"] == [{"role": "user", "content": "x"}]


def test_stream_encoder_failure_endings() -> None:
    enc = FORMAT.stream_encoder(ir.Request("m", []))
    out = enc.feed(ir.StreamStart("msg_1", "m")) + enc.feed(ir.StreamPartStart(0, ir.Text("")))
    out += enc.feed(ir.StreamPartDelta(0, "par")) + enc.finish(ir.StreamError("Overloaded", status=529))
    names = [n for n, _ in events_of(out)]
    assert names == ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "error"]
    assert orjson.loads(events_of(out)[-1][1]) == {"type": "error", "error": {"type": "overloaded_error",
                                                                              "message": "Overloaded"}}
    assert enc.finish() == b""
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        sdk_final_message(out)
    quiet = FORMAT.stream_encoder(ir.Request("m", []))
    ended = quiet.feed(ir.StreamStart("msg_2", "m")) + quiet.finish()
    assert orjson.loads(events_of(ended)[-1][1])["error"]["type"] == "api_error"


# -- encoding IR from other formats ---------------------------------------------------------------

def _foreign(messages: list[ir.Message], **kw: Any) -> ir.Request:
    return ir.Request(model="claude-x", messages=messages, source="openai_chat",
                      tools=[ir.Tool("f", parameters={"type": "object", "properties": {"a": {"type": "string"}}})],
                      **kw)


def test_foreign_request_regrouped_for_the_api() -> None:
    req = _foreign([
        ir.Message("system", [ir.Text("Be brief.")]), ir.Message("user", [ir.Text("hi")]),
        ir.Message("assistant", [ir.Text("calling"), ir.ToolCall("call_a", "f", '{"a":"1"}'),
                                 ir.ToolCall("fc:b", "f", "{}")]),
        ir.Message("assistant", [ir.Reasoning(text="r", encrypted="x", source="openai_responses")]),
        ir.Message("tool", [ir.ToolResult("call_a", "A")]), ir.Message("tool", [ir.ToolResult("fc:b", "B")]),
        ir.Message("developer", [ir.Text("Mind the tests.")]), ir.Message("user", [ir.Text("go on")]),
    ], parallel_tool_calls=False, user="u-1", metadata={"trace": "t"}, reasoning_effort="high")
    body = FORMAT.encode_request(req)
    api_accepts(body)
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS and body["metadata"] == {"user_id": "u-1"}
    assert body["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Mind the tests."}]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert "output_config" not in body
    last = body["messages"][2]["content"]
    assert [b["type"] for b in last] == ["tool_result", "tool_result", "text"]
    assert last[1]["tool_use_id"] == body["messages"][1]["content"][2]["id"] != "fc:b"


def test_missing_result_is_answered_and_orphan_kept_as_text() -> None:
    body = FORMAT.encode_request(_foreign([
        ir.Message("user", [ir.Text("hi")]), ir.Message("assistant", [ir.ToolCall("call_a", "f", "{}")]),
        ir.Message("user", [ir.Text("never mind")]), ir.Message("assistant", [ir.Text("ok")]),
        ir.Message("tool", [ir.ToolResult("call_gone", "late output")]), ir.Message("user", [ir.Text("and?")]),
    ]))
    api_accepts(body)
    assert body["messages"][2]["content"][0]["is_error"] is True
    assert body["messages"][4]["content"][0]["text"] == "[output of tool call call_gone]\nlate output"


def test_thinking_budget_and_structured_output() -> None:
    body = FORMAT.encode_request(_foreign([ir.Message("user", [ir.Text("x")])], thinking_budget=2048,
                                          response_format=ir.ResponseFormat("json_schema", schema={"type": "object"})))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS + 2048
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    with pytest.raises(TranslationError):
        FORMAT.encode_request(_foreign([ir.Message("user", [ir.Text("x")])],
                                       response_format=ir.ResponseFormat("json_object")))


def test_decoder_rejects_bad_input_naming_the_field() -> None:
    with pytest.raises(InvalidRequest, match=r"messages\.0\.role"):
        FORMAT.decode_request({"model": "m", "messages": [{"role": "tool", "content": "x"}]})
    with pytest.raises(InvalidRequest, match=r"messages\.0\.content"):
        FORMAT.decode_request({"model": "m", "messages": [{"role": "system", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]}]})
    with pytest.raises(InvalidRequest, match=r"messages\.0\.content\.0"):
        FORMAT.decode_request({"model": "m", "messages": [{"role": "user", "content": [{"text": "no type"}]}]})
    with pytest.raises(InvalidRequest, match="model"):
        FORMAT.decode_request({"messages": []})


def test_openai_data_url_image_becomes_base64_source() -> None:
    img = ir.Image(url="data:image/jpeg;base64,/9j/4AAQ")
    body = FORMAT.encode_request(_foreign([ir.Message("user", [img, ir.Text("what is it?")])]))
    assert body["messages"][0]["content"][0]["source"] == {"type": "base64", "media_type": "image/jpeg",
                                                           "data": "/9j/4AAQ"}


# -- peers.md §3.3 --------------------------------------------------------------------------------

def test_peers_20_duplicate_tool_results_are_merged() -> None:
    body = FORMAT.encode_request(_foreign([
        ir.Message("user", [ir.Text("hi")]), ir.Message("assistant", [ir.ToolCall("toolu_1", "f", "{}")]),
        ir.Message("tool", [ir.ToolResult("toolu_1", "first")]),
        ir.Message("tool", [ir.ToolResult("toolu_1", "second", is_error=True)])]))
    api_accepts(body)
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1",
                                               "content": "first\nsecond", "is_error": True}]
    # …also when the duplicate arrives inside one Anthropic user turn.
    dup = {"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a"},
                                     {"type": "tool_result", "tool_use_id": "toolu_1", "content": "b"}]}]}
    with pytest.raises(Invalid, match="single result"):
        validate(dup)
    api_accepts(FORMAT.encode_request(FORMAT.decode_request(dup)))


def test_peers_22_thinking_signatures_byte_exact_and_untrusted_dropped() -> None:
    sig = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/=="
    req = _foreign([
        ir.Message("user", [ir.Text("x")]),
        ir.Message("assistant", [ir.Reasoning(text="mine  \n", signature=sig, source="anthropic_messages"),
                                 ir.Reasoning(text="truncated", source="anthropic_messages"),
                                 ir.Reasoning(text="gemini thought", signature="g", source="gemini"),
                                 ir.Reasoning(encrypted="gAAA", source="openai_responses"),
                                 ir.Text("answer")])])
    blocks = FORMAT.encode_request(req)["messages"][1]["content"]
    assert blocks == [{"type": "thinking", "thinking": "mine  \n", "signature": sig},
                      {"type": "text", "text": "answer"}]


def test_peers_23_at_most_four_cache_control_blocks() -> None:
    body = golden("request_cache_control.json")
    req = FORMAT.decode_request(body)
    req.system.insert(0, ir.Text("proxy-injected", cache_control={"type": "ephemeral"}))
    req.messages[1].parts[0].cache_control = {"type": "ephemeral"}  # type: ignore[union-attr]
    out = FORMAT.encode_request(req)
    api_accepts(out)
    assert "cache_control" not in out["tools"][0] and "cache_control" not in out["system"][0]
    assert out["system"][2]["cache_control"] == {"type": "ephemeral"}
    assert out["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert req.tools[0].cache_control is not None  # the IR itself is left alone


# -- property: an Anthropic request survives decode → encode --------------------------------------

_text = st.text(max_size=20)
_int64 = st.integers(-(2**63), 2**63 - 1)  # what orjson (the gateway's parser) reads
_cc = st.none() | st.sampled_from([{"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}])
_ids = st.from_regex(r"toolu_[A-Za-z0-9]{4,10}", fullmatch=True)
_b64 = st.binary(min_size=1, max_size=12).map(lambda b: base64.b64encode(b).decode())


def _with_cc(block: dict[str, Any], cc: dict[str, Any] | None) -> dict[str, Any]:
    return {**block, "cache_control": cc} if cc else block


_text_block = st.builds(lambda t, cc: _with_cc({"type": "text", "text": t}, cc), _text, _cc)
_image = st.one_of(
    st.builds(lambda d, m: {"type": "image", "source": {"type": "base64", "media_type": m, "data": d}},
              _b64, st.sampled_from(["image/png", "image/jpeg"])),
    st.builds(lambda u: {"type": "image", "source": {"type": "url", "url": "https://x.test/" + u}},
              st.from_regex(r"[a-z]{1,8}\.png", fullmatch=True)))
_document = st.one_of(
    st.builds(lambda d: {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": d}},
              _b64),
    st.builds(lambda t, title: {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": t},
                                **({"title": title} if title else {})}, _text, st.none() | _text))
_user_block = st.one_of(_text_block, _image, _document)
_thinking = st.one_of(
    st.builds(lambda t, s: {"type": "thinking", "thinking": t, "signature": "Eq" + s}, _text,
              st.from_regex(r"[A-Za-z0-9+/]{4,20}", fullmatch=True)),
    st.builds(lambda d: {"type": "redacted_thinking", "data": d}, _b64))
_args = st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True),
                        st.one_of(_int64, _text, st.booleans(), st.none()), max_size=3)


@st.composite
def _conversation(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    pending: list[str] = []
    for turn in range(draw(st.integers(1, 5))):
        if turn % 2 == 0:
            results = [{"type": "tool_result", "tool_use_id": i,
                        "content": draw(st.one_of(_text, st.lists(_text_block | _image, min_size=1, max_size=2))),
                        **draw(st.sampled_from([{}, {"is_error": True}, {"is_error": False}]))} for i in pending]
            rest = draw(st.lists(_user_block, min_size=0 if results else 1, max_size=3))
            plain = not results and draw(st.booleans())
            messages.append({"role": "user", "content": draw(_text) if plain else results + rest})
            pending = []
        else:
            blocks = draw(st.lists(_thinking, max_size=1)) + draw(st.lists(_text_block, max_size=2))
            pending = [f"{i}_{turn}" for i in draw(st.lists(_ids, max_size=2, unique=True))]  # unique, as the API wants
            blocks += [{"type": "tool_use", "id": i, "name": "f", "input": draw(_args)} for i in pending]
            plain = len(blocks) == 1 and set(blocks[0]) == {"type", "text"}
            if not blocks or (plain and draw(st.booleans())):
                messages.append({"role": "assistant", "content": draw(_text)})
            else:
                messages.append({"role": "assistant", "content": blocks})
    return messages


_tool = st.builds(lambda n, d, cc, strict: {
    "name": n, **({"description": d} if d is not None else {}),
    "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}},
    **({"cache_control": cc} if cc else {}), **({"strict": strict} if strict is not None else {})},
    st.from_regex(r"[a-z_]{1,10}", fullmatch=True), st.none() | _text, _cc, st.none() | st.booleans())
_server_tool = st.sampled_from([{"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
                                {"type": "bash_20250124", "name": "bash"},
                                {"type": "code_execution_20250825", "name": "code_execution"}])
_optional: dict[str, Any] = {
    "system": _text | st.lists(_text_block, min_size=1, max_size=2),
    "temperature": st.floats(0, 1), "top_p": st.floats(0, 1), "top_k": st.integers(1, 500),
    "stop_sequences": st.lists(_text, min_size=1, max_size=2), "stream": st.booleans(),
    "metadata": st.builds(lambda u: {"user_id": u}, _text),
    "thinking": st.sampled_from([{"type": "enabled", "budget_tokens": 1024}, {"type": "adaptive"},
                                 {"type": "disabled"}, {"type": "adaptive", "display": "summarized"}]),
    "output_config": st.sampled_from([{"effort": "high"}, {"format": {"type": "json_schema", "schema": {
        "type": "object", "properties": {"x": {"type": "integer"}}, "additionalProperties": False}}}]),
    "service_tier": st.sampled_from(["auto", "standard_only"]), "inference_geo": st.sampled_from(["us", "eu"]),
    "container": _text, "x_unknown_field": st.dictionaries(_text, _int64, max_size=2),
}


@st.composite
def anthropic_requests(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(st.from_regex(r"claude-[a-z0-9-]{1,12}", fullmatch=True)),
                            "max_tokens": draw(st.integers(1, 64000)), "messages": draw(_conversation())}
    for key in draw(st.lists(st.sampled_from(sorted(_optional)), unique=True, max_size=6)):
        body[key] = draw(_optional[key])
    tools = draw(st.lists(_tool, max_size=2, unique_by=lambda t: t["name"]))
    tools += draw(st.lists(_server_tool, max_size=1))
    if tools:
        body["tools"] = tools
        choice = draw(st.sampled_from([None, {"type": "auto"}, {"type": "any", "disable_parallel_tool_use": True},
                                       {"type": "none"}, {"type": "auto", "disable_parallel_tool_use": False}]))
        if choice is not None:
            body["tool_choice"] = choice
    return body


def _cache_blocks(body: dict[str, Any]) -> int:
    return orjson.dumps(body).count(b'"cache_control"')


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(anthropic_requests())
def test_anthropic_request_survives_decode_encode(body: dict[str, Any]) -> None:
    out = FORMAT.encode_request(FORMAT.decode_request(body))
    if _cache_blocks(body) <= 4:
        assert out == body
    else:
        assert _cache_blocks(out) == 4


# -- provider half against the fake upstream ------------------------------------------------------

def test_provider_half_against_the_fake_upstream() -> None:
    """Foreign IR → encode → the fake API → decode (plain and streamed), then the thinking
    block goes back byte for byte and the API accepts its signature (#22)."""
    tools = [ir.Tool("get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})]
    req = ir.Request(model="claude-x", source="openai_chat", tools=tools, thinking_budget=1024,
                     messages=[ir.Message("system", [ir.Text("Be brief.")]), ir.Message("user", [ir.Text("Paris?")])])
    with FakeAnthropic() as fake:
        headers = {"x-api-key": fake.api_key, "anthropic-version": "2023-06-01"}
        url = f"{fake.url}/v1/messages"
        first = FORMAT.decode_response(httpx2.post(url, headers=headers, json=FORMAT.encode_request(req)).json())
        thinking, call = first.content
        assert isinstance(thinking, ir.Reasoning) and isinstance(call, ir.ToolCall)
        assert first.finish_reason == "tool_calls" and orjson.loads(call.arguments) == {"city": "fake"}

        req.stream = True
        raw = httpx2.post(url, headers=headers, json=FORMAT.encode_request(req)).content
        events = decode_stream(raw)
        assert [e.part for e in events if isinstance(e, ir.StreamPartEnd)] == first.content
        assert isinstance(events[-1], ir.StreamFinish) and events[-1].finish_reason == "tool_calls"

        req.stream = False
        req.messages += [ir.Message("assistant", first.content),
                         ir.Message("tool", [ir.ToolResult(call.call_id, "sunny")])]
        r = httpx2.post(url, headers=headers, json=FORMAT.encode_request(req))
        assert r.status_code == 200, r.text
        final = FORMAT.decode_response(r.json())
        assert final.content[-1] == ir.Text(f"Tool results: {call.call_id}=sunny")
        thinking.text += "."  # re-serialised or edited reasoning is what the API rejects
        r = httpx2.post(url, headers=headers, json=FORMAT.encode_request(req))
        assert r.status_code == 400 and "Invalid `signature` in `thinking` block" in r.text


def test_foreign_part_fields_never_reach_anthropic() -> None:
    """Fields other formats keep in `extra` (annotations, item status, thoughtSignature)
    would be rejected by the API as unknown: only Anthropic's own go out."""
    req = _foreign([
        ir.Message("user", [ir.Text("hi", extra={"annotations": []}), ir.Image(url="https://x.test/a.png",
                                                                               extra={"detail": "low"})]),
        ir.Message("assistant", [ir.ToolCall("call_1", "f", "{}", extra={"status": "completed",
                                                                         "thoughtSignature": "abc"})]),
        ir.Message("tool", [ir.ToolResult("call_1", "ok", extra={"output_type": "function_call_output"})])])
    body = FORMAT.encode_request(req)
    api_accepts(body)
    assert body["messages"][0]["content"][0] == {"type": "text", "text": "hi"}
    assert body["messages"][1]["content"][0] == {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
    assert body["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "call_1", "content": "ok"}


def test_system_messages_inside_the_conversation_stay_in_place() -> None:
    """Claude Code sends `{"role": "system"}` messages among the turns (the API takes them)."""
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "# Environment\nLinux"}]},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "again"}]}
    req = FORMAT.decode_request(copy.deepcopy(body))
    assert [m.role for m in req.messages] == ["user", "system", "assistant", "system", "user"]
    assert FORMAT.encode_request(req)["messages"] == body["messages"]
    # For another provider format they are instructions: Bedrock's Anthropic endpoint gets them as system.
    from lockgate.formats.bedrock_anthropic import FORMAT as BEDROCK
    from lockgate.formats.fit import fit_request

    sent = BEDROCK.encode_request(fit_request(req, "bedrock_anthropic").request)
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert "Linux" in orjson.dumps(sent["system"]).decode() and "Be brief." in orjson.dumps(sent["system"]).decode()
