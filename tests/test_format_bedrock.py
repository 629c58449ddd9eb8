"""Bedrock Converse format: request encoding, response and stream decoding, event-stream framing."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import pathlib
import subprocess
import sys
from typing import Any

import orjson
import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.model import ServiceModel
from botocore.validate import ParamValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from lockgate import ir
from lockgate.errors import TranslationError
from lockgate.formats.bedrock_converse import FORMAT, EventStreamReader
from lockgate.formats.bedrock_converse.eventstream import encode_message, event_message, exception_message

GOLDEN = pathlib.Path(__file__).parent / "golden" / "bedrock_converse"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PDF = "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg=="


def golden(name: str) -> Any:
    return orjson.loads((GOLDEN / name).read_bytes())


def service_model() -> ServiceModel:
    import botocore

    path = next((pathlib.Path(botocore.__file__).parent / "data" / "bedrock-runtime").glob("*/service-2.json.gz"))
    return ServiceModel(json.loads(gzip.decompress(path.read_bytes())))


def assert_valid_converse(body: dict[str, Any], model: str = "m") -> None:
    """Check a body against Bedrock's own service model (what the AWS SDKs validate)."""
    shape = service_model().operation_model("Converse").input_shape
    report = ParamValidator().validate({"modelId": model, **body}, shape)
    assert not report.has_errors(), report.generate_report()


def agent_request() -> ir.Request:
    """A coding-agent turn: cached system prompt, image and document, parallel calls, results, thinking."""
    return ir.Request(
        model="us.anthropic.claude-sonnet-4-20250514-v1:0",
        system=[ir.Text("You are a coding agent.", cache_control={"type": "ephemeral"})],
        messages=[
            ir.Message("developer", [ir.Text("Prefer small diffs.")]),
            ir.Message("user", [ir.Text("What is in this picture and in the spec?"),
                                ir.Image(data=PNG, media_type="image/png"),
                                ir.File(data=PDF, media_type="application/pdf", filename="spec v2.pdf",
                                        cache_control={"type": "ephemeral", "ttl": "1h"})]),
            ir.Message("assistant", [
                ir.Reasoning(text="Two files to read.", signature="c2lnLTE=", source="bedrock_converse"),
                ir.Reasoning(encrypted="gAAAA-openai", source="openai_responses"),
                ir.Text("Reading both."),
                ir.ToolCall("tooluse_a", "read_file", '{"path": "a.py"}'),
                ir.ToolCall("tooluse_b", "read_file", '{"path": "b.py"}'),
            ]),
            ir.Message("tool", [ir.ToolResult("tooluse_a", "print('a')")]),
            ir.Message("tool", [ir.ToolResult("tooluse_b", [ir.Text("no such file")], is_error=True)]),
            ir.Message("user", [ir.Text("Then fix b.py.")]),
            ir.Message("assistant", [ir.Reasoning(encrypted="cmVkYWN0ZWQ=", redacted=True,
                                                  source="bedrock_converse"),
                                     ir.ToolCall("tooluse_c", "write_file", "")]),
            ir.Message("tool", [ir.ToolResult("tooluse_c", "")]),
        ],
        tools=[ir.Tool("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}},
                                                    "required": ["path"]}),
               ir.Tool("write_file", "Write a file", {"type": "object", "properties": {"path": {"type": "string"}}},
                       cache_control={"type": "ephemeral"})],
        tool_choice=ir.ToolChoice("required"),
        max_output_tokens=4096, temperature=1.0, top_p=0.95, top_k=40, stop=["\n\nHuman:"],
        thinking_budget=2048, metadata={"session": "s-1"},
        response_format=ir.ResponseFormat("json_schema", name="answer", schema={"type": "object"}),
    )


def user(text: str) -> ir.Message:
    return ir.Message("user", [ir.Text(text)])


# -- requests ------------------------------------------------------------------------------------

def test_request_golden_agent_turn() -> None:
    body = FORMAT.encode_request(agent_request())
    assert body == golden("request_agent.json")
    assert_valid_converse(body)


def test_request_minimal_has_only_messages() -> None:
    body = FORMAT.encode_request(ir.Request(model="amazon.nova-pro-v1:0", messages=[user("hi")]))
    assert body == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    assert_valid_converse(body)


def test_tool_results_regroup_into_one_user_turn_results_first() -> None:
    req = ir.Request(model="m", messages=[
        user("go"),
        ir.Message("assistant", [ir.ToolCall("t1", "f", "{}"), ir.ToolCall("t2", "f", "{}")]),
        ir.Message("user", [ir.Text("also this")]),  # a client that put text before the results
        ir.Message("tool", [ir.ToolResult("t2", "two")]),
        ir.Message("tool", [ir.ToolResult("t1", "one")]),
    ], tools=[ir.Tool("f", parameters={"type": "object"})])
    body = FORMAT.encode_request(req)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t2", "content": [{"text": "two"}]}},
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "one"}]}},
        {"text": "also this"},
    ]


def test_same_role_turns_merge_and_empty_turns_vanish() -> None:
    req = ir.Request(model="m", messages=[
        user("a"), user("b"),
        ir.Message("assistant", [ir.Text("")]),  # nothing Converse can carry
        ir.Message("assistant", [ir.Reasoning(text="x", source="gemini")]),  # foreign reasoning: dropped
        user("c"),
        ir.Message("assistant", [ir.Text("d")]), ir.Message("assistant", [ir.Refusal("e")]),
    ])
    body = FORMAT.encode_request(req)
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "a"}, {"text": "b"}, {"text": "c"}]},
        {"role": "assistant", "content": [{"text": "d"}, {"text": "e"}]},
    ]


def test_history_tools_get_a_tool_config_even_when_none_offered() -> None:
    # Converse refuses toolUse/toolResult blocks without a toolConfig.
    req = ir.Request(model="m", messages=[
        user("go"), ir.Message("assistant", [ir.ToolCall("t1", "lookup", '{"q": 1}')]),
        ir.Message("tool", [ir.ToolResult("t1", "r")]),
    ], tool_choice=ir.ToolChoice("none"))
    body = FORMAT.encode_request(req)
    assert body["toolConfig"] == {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {
        "type": "object"}}}}]}
    assert_valid_converse(body)


def test_tool_choice_none_without_history_offers_no_tools() -> None:
    req = ir.Request(model="m", messages=[user("hi")], tools=[ir.Tool("f", parameters={"type": "object"})],
                     tool_choice=ir.ToolChoice("none"))
    assert "toolConfig" not in FORMAT.encode_request(req)


@pytest.mark.parametrize(("choice", "wire"), [
    (ir.ToolChoice("auto"), {"auto": {}}), (ir.ToolChoice("required"), {"any": {}}),
    (ir.ToolChoice("tool", "f"), {"tool": {"name": "f"}}),
])
def test_tool_choice(choice: ir.ToolChoice, wire: dict[str, Any]) -> None:
    req = ir.Request(model="m", messages=[user("hi")], tools=[ir.Tool("f", parameters={"type": "object"})],
                     tool_choice=choice)
    assert FORMAT.encode_request(req)["toolConfig"]["toolChoice"] == wire


def test_custom_tool_is_a_one_string_function() -> None:
    req = ir.Request(model="m", messages=[
        user("patch"), ir.Message("assistant", [ir.ToolCall("t", "apply_patch", "*** Begin Patch", kind="custom")]),
        ir.Message("tool", [ir.ToolResult("t", "ok", kind="custom")])],
        tools=[ir.Tool("apply_patch", "Patch files", kind="custom")])
    body = FORMAT.encode_request(req)
    assert body["messages"][1]["content"][0]["toolUse"]["input"] == {"input": "*** Begin Patch"}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"] == ["input"]


def test_thinking_only_for_anthropic_models_and_json_object_format() -> None:
    req = ir.Request(model="amazon.nova-pro-v1:0", messages=[user("hi")], thinking_budget=1024,
                     response_format=ir.ResponseFormat("json_object"))
    body = FORMAT.encode_request(req)
    assert "additionalModelRequestFields" not in body
    assert body["outputConfig"]["textFormat"]["structure"]["jsonSchema"] == {"schema": '{"type":"object"}'}


def test_data_url_image_and_s3_image() -> None:
    req = ir.Request(model="m", messages=[ir.Message("user", [
        ir.Image(url=f"data:image/jpeg;base64,{PNG}"), ir.Image(url="s3://bucket/cat.webp")])])
    content = FORMAT.encode_request(req)["messages"][0]["content"]
    assert content == [{"image": {"format": "jpeg", "source": {"bytes": PNG}}},
                       {"image": {"format": "webp", "source": {"s3Location": {"uri": "s3://bucket/cat.webp"}}}}]


@pytest.mark.parametrize("part", [
    ir.Image(url="https://example.com/cat.png"), ir.Image(data=PNG, media_type="image/tiff"),
    ir.File(file_id="file-123"), ir.File(data=PDF, media_type="application/zip"),
])
def test_inexpressible_parts_raise_translation_error(part: ir.Part) -> None:
    with pytest.raises(TranslationError) as e:
        FORMAT.encode_request(ir.Request(model="m", messages=[ir.Message("user", [part])]))
    assert "messages[0].parts[0]" in e.value.message


def test_tool_call_arguments_that_are_not_json_raise() -> None:
    req = ir.Request(model="m", messages=[user("x"), ir.Message("assistant", [ir.ToolCall("t", "f", "{oops")])])
    with pytest.raises(TranslationError, match="not JSON"):
        FORMAT.encode_request(req)


_part = st.one_of(
    st.builds(lambda t: ir.Text(t), st.text(max_size=5)),
    st.builds(lambda i: ir.ToolCall(f"c{i}", "f", "{}"), st.integers(0, 30)),
    st.builds(lambda i: ir.ToolResult(f"c{i}", "r"), st.integers(0, 30)),
)
_message = st.builds(lambda role, parts: ir.Message(role, [p for p in parts if not (
    isinstance(p, ir.ToolCall) and role != "assistant")]), st.sampled_from(["user", "assistant", "tool", "developer"]),
    st.lists(_part, max_size=4))


@given(st.lists(_message, max_size=8))
@settings(max_examples=200, deadline=None)
def test_property_alternation_and_nothing_dropped(messages: list[ir.Message]) -> None:
    # Tool results sitting in user or tool messages all go into user turns; no call or result is lost.
    for m in messages:
        if m.role == "developer":
            m.parts = [p for p in m.parts if isinstance(p, ir.Text)]
    body = FORMAT.encode_request(ir.Request(model="m", messages=messages))
    roles = [m["role"] for m in body["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles))
    assert all(m["content"] for m in body["messages"])
    wire = [b for m in body["messages"] for b in m["content"]]
    want_calls = [p.call_id for m in messages if m.role == "assistant" for p in m.parts if isinstance(p, ir.ToolCall)]
    want_results = [p.call_id for m in messages if m.role != "developer" for p in m.parts
                    if isinstance(p, ir.ToolResult)]
    assert [b["toolUse"]["toolUseId"] for b in wire if "toolUse" in b] == want_calls
    assert sorted(b["toolResult"]["toolUseId"] for b in wire if "toolResult" in b) == sorted(want_results)
    for m in body["messages"]:  # within a turn, tool results come first
        kinds = ["toolResult" in b for b in m["content"]]
        assert kinds == sorted(kinds, reverse=True)


# -- responses -----------------------------------------------------------------------------------

def test_response_golden_tool_use() -> None:
    resp = FORMAT.decode_response(golden("response_tool_use.json"))
    assert resp.source == "bedrock_converse" and resp.id.startswith("bedrock-")
    assert resp.content == [
        ir.Reasoning(text="The user wants the weather.", signature="EqQBCkYIBxgCKkBsig==", source="bedrock_converse"),
        ir.Reasoning(encrypted="RW5jcnlwdGVkIHRoaW5raW5n", redacted=True, source="bedrock_converse"),
        ir.Text("Let me check the weather."),
        ir.ToolCall("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "get_weather", '{"city":"Paris","days":2}'),
    ]
    assert resp.finish_reason == "tool_calls" and resp.stop_sequence is None
    assert resp.usage == ir.Usage(input_tokens=2170, output_tokens=45, cached_input_tokens=1800,
                                  cache_write_tokens=250, cache_write_1h_tokens=250)
    assert resp.extra["metrics"] == {"latencyMs": 1170}


def test_response_reasoning_round_trips_byte_exact() -> None:
    resp = FORMAT.decode_response(golden("response_tool_use.json"))
    again = FORMAT.encode_request(ir.Request(model="anthropic.claude", messages=[
        user("weather?"), ir.Message("assistant", resp.content),
        ir.Message("tool", [ir.ToolResult("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "sunny")])]))
    assert again["messages"][1]["content"] == golden("response_tool_use.json")["output"]["message"]["content"]


def test_response_text_and_stop_reasons() -> None:
    resp = FORMAT.decode_response(golden("response_text.json"))
    assert resp.content == [ir.Text("Hello! How can I help?")]
    assert resp.usage == ir.Usage(input_tokens=12, output_tokens=8)
    wire = golden("response_text.json")
    for stop, finish in [("end_turn", "stop"), ("tool_use", "tool_calls"), ("max_tokens", "length"),
                         ("stop_sequence", "stop"), ("guardrail_intervened", "content_filter"),
                         ("content_filtered", "content_filter"), ("model_context_window_exceeded", "length"),
                         ("malformed_tool_use", "error")]:
        assert FORMAT.decode_response({**wire, "stopReason": stop}).finish_reason == finish
    seq = FORMAT.decode_response({**wire, "stopReason": "stop_sequence",
                                  "additionalModelResponseFields": {"stop_sequence": "END"}})
    assert seq.stop_sequence == "END"


# -- streams -------------------------------------------------------------------------------------

def frames_of(events: list[list[Any]]) -> bytes:
    return b"".join(event_message(name, payload) for name, payload in events)


def decode_stream(raw: bytes, chunk: int) -> list[ir.StreamEvent]:
    reader, decoder = EventStreamReader(), FORMAT.stream_decoder()
    out: list[ir.StreamEvent] = []
    for i in range(0, len(raw), chunk):
        for name, payload in reader.feed(raw[i:i + chunk]):
            out += decoder.feed(name, payload)
    for name, payload in reader.close():
        out += decoder.feed(name, payload)
    return out + decoder.close()


@pytest.mark.parametrize("chunk", [1, 7, 100, 1 << 20])
def test_stream_golden_tool_use(chunk: int) -> None:
    events = decode_stream(frames_of(golden("stream_tool_use.json")), chunk)
    start, *rest = events
    assert isinstance(start, ir.StreamStart) and start.id.startswith("bedrock-")
    call = ir.ToolCall("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "get_weather", "")
    assert rest == [
        ir.StreamPartStart(0, ir.Reasoning(signature="EqQBCkYIBxgCKkBsig==", source="bedrock_converse")),
        ir.StreamPartDelta(0, "The user wants ", "reasoning"),
        ir.StreamPartDelta(0, "the weather.", "reasoning"),
        ir.StreamPartEnd(0, ir.Reasoning(text="The user wants the weather.", signature="EqQBCkYIBxgCKkBsig==",
                                         source="bedrock_converse")),
        ir.StreamPartStart(1, ir.Text("")),
        ir.StreamPartDelta(1, "Let me check", "text"),
        ir.StreamPartDelta(1, " the weather.", "text"),
        ir.StreamPartEnd(1, ir.Text("Let me check the weather.")),
        ir.StreamPartStart(2, call),
        ir.StreamPartDelta(2, '{"city": "Pa', "arguments"),
        ir.StreamPartDelta(2, 'ris", "days": 2}', "arguments"),
        ir.StreamPartEnd(2, ir.ToolCall(call.call_id, "get_weather", '{"city": "Paris", "days": 2}')),
        ir.StreamFinish("tool_calls", ir.Usage(input_tokens=2170, output_tokens=45, cached_input_tokens=1800,
                                               cache_write_tokens=250)),
    ]


def test_stream_tool_without_input_gets_empty_object() -> None:
    events = decode_stream(frames_of([
        ["messageStart", {"role": "assistant"}],
        ["contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t", "name": "now"}}}],
        ["contentBlockStop", {"contentBlockIndex": 0}],
        ["messageStop", {"stopReason": "tool_use"}],
    ]), 64)
    assert events[-3:] == [ir.StreamPartDelta(0, "{}", "arguments"), ir.StreamPartEnd(0, ir.ToolCall("t", "now", "{}")),
                           ir.StreamFinish("tool_calls")]  # no metadata: finish at close, without usage


def test_stream_without_message_stop_has_no_finish() -> None:
    events = decode_stream(frames_of([["messageStart", {"role": "assistant"}],
                                      ["contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}]]), 9)
    assert not any(isinstance(e, ir.StreamFinish | ir.StreamError) for e in events)


@pytest.mark.parametrize(("name", "status"), [("modelStreamErrorException", 424), ("throttlingException", 429),
                                              ("validationException", 400), ("internalServerException", 500),
                                              ("serviceUnavailableException", 503)])
def test_stream_exception_events(name: str, status: int) -> None:
    raw = frames_of([["messageStart", {"role": "assistant"}]]) + exception_message(name, {"message": "boom"})
    events = decode_stream(raw, 5)
    assert events[-1] == ir.StreamError("boom", code=name, status=status)


def test_stream_corrupt_and_truncated_frames_become_errors() -> None:
    good = frames_of([["messageStart", {"role": "assistant"}]])
    bad = bytearray(event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}))
    bad[-6] ^= 0xFF  # payload byte: the message CRC no longer matches
    corrupt = decode_stream(good + bytes(bad) + good, 1000)
    assert isinstance(corrupt[-1], ir.StreamError) and corrupt[-1].code == "EventStreamCorrupt"
    cut = decode_stream(good + bytes(bad[:20]), 1000)
    assert isinstance(cut[-1], ir.StreamError) and cut[-1].code == "EventStreamTruncated"


# -- event-stream framing --------------------------------------------------------------------------

# AWS's published event-stream test vectors (aws-c-event-stream encoded/positive, negative).
VECTOR_ONE_STR_HEADER = "AAAAPQAAACAH/YOWDGNvbnRlbnQtdHlwZQcAEGFwcGxpY2F0aW9uL2pzb257J2Zvbyc6J2Jhcid9jZwIsQ=="
VECTOR_EMPTY = "AAAAEAAAAAAFwkjrfZjI/w=="
VECTOR_CORRUPTED_PAYLOAD = "AAAAHQAAAAD9UoxaWydmb28nOidiYXInfcNlOTY="


def test_encoder_matches_aws_vectors() -> None:
    assert encode_message([("content-type", "application/json")], b"{'foo':'bar'}") == base64.b64decode(
        VECTOR_ONE_STR_HEADER)
    assert encode_message([], b"") == base64.b64decode(VECTOR_EMPTY)


def test_reader_rejects_corrupted_vector() -> None:
    (name, payload), = EventStreamReader().feed(base64.b64decode(VECTOR_CORRUPTED_PAYLOAD))
    assert name == "error" and orjson.loads(payload)["code"] == "EventStreamCorrupt"


_names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=20)


@given(st.lists(st.tuples(_names, st.binary(max_size=300)), min_size=1, max_size=6), st.integers(1, 50))
@settings(max_examples=100, deadline=None)
def test_property_framing_round_trip(messages: list[tuple[str, bytes]], chunk: int) -> None:
    raw = b"".join(encode_message([(":message-type", "event"), (":event-type", n)], p) for n, p in messages)
    reader = EventStreamReader()
    got = [pair for i in range(0, len(raw), chunk) for pair in reader.feed(raw[i:i + chunk])]
    assert got == messages and reader.close() == []
    buf = EventStreamBuffer()  # and botocore's parser sees the same headers
    buf.add_data(raw)
    assert [m.headers[":event-type"] for m in buf] == [n for n, _ in messages]


def test_importing_the_format_does_not_load_botocore() -> None:
    code = ("import sys, lockgate.formats.bedrock_converse, lockgate.providers.bedrock; "
            "print('botocore' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
