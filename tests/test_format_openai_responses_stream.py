"""OpenAI Responses format: the stream encoder (what Codex reads) and the stream decoder."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from lockgate import ir
from lockgate.formats.openai_responses import FORMAT
from tests.responses_support import (
    EVENT,
    GOLDEN,
    accumulate,
    codex,
    codex_echo,
    run_encoder,
    simple_request,
    sse_pairs,
)

# -- stream encoder (what Codex reads) -------------------------------------------------------------

def _codex_stream() -> list[ir.StreamEvent]:
    return [
        ir.StreamStart("msg_01", "claude-x", 1700000000, usage=ir.Usage(input_tokens=120, cached_input_tokens=100)),
        ir.StreamPartStart(0, ir.Reasoning(source="anthropic_messages")),
        ir.StreamPartDelta(0, "Think", "reasoning"),
        ir.StreamPartDelta(0, "ing.", "reasoning"),
        ir.StreamPartEnd(0, ir.Reasoning(text="Thinking.", signature="sig", source="anthropic_messages")),
        ir.StreamPartStart(1, ir.Text("")),
        ir.StreamPartDelta(1, "Hel"),
        ir.StreamPartDelta(1, "lo"),
        ir.StreamPartEnd(1, ir.Text("Hello")),
        ir.StreamPartStart(2, ir.ToolCall("toolu_1", "exec_command", "")),
        ir.StreamPartDelta(2, '{"cmd":', "arguments"),
        ir.StreamPartDelta(2, '"ls"}', "arguments"),
        ir.StreamPartEnd(2, ir.ToolCall("toolu_1", "exec_command", '{"cmd":"ls"}')),
        ir.StreamPartStart(3, ir.ToolCall("toolu_2", "apply_patch", "", kind="custom")),
        ir.StreamPartDelta(3, "*** Begin Patch\n", "arguments"),
        ir.StreamPartEnd(3, ir.ToolCall("toolu_2", "apply_patch", "*** Begin Patch\n*** End Patch", kind="custom")),
        ir.StreamFinish("tool_calls", ir.Usage(output_tokens=30)),
    ]


def test_stream_encoder_full_sequence_validates_and_accumulates() -> None:
    body = codex("exec_gpt55_req_1")
    req = FORMAT.decode_request(copy.deepcopy(body))
    events = run_encoder(req, _codex_stream(), provider="anthropic_messages")
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    assert types.count("response.output_item.added") == types.count("response.output_item.done") == 4
    final = accumulate(body, events)
    assert final.status == "completed" and final.output_text == "Hello"
    assert [o.type for o in final.output] == ["reasoning", "message", "function_call", "custom_tool_call"]
    assert final.output[3].input == "*** Begin Patch\n*** End Patch"  # type: ignore[union-attr]
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (120, 30)
    assert final.usage.input_tokens_details.cached_tokens == 100
    # the custom input's missing tail was sent as a delta before .done
    deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    assert "".join(deltas) == "*** Begin Patch\n*** End Patch"
    # every item's done event equals its place in the final response
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done == events[-1]["response"]["output"]
    # the foreign thinking comes back next turn as it was
    back = FORMAT.decode_request({"model": "m", "input": codex_echo(done)})
    assert back.messages[0].parts[0] == ir.Reasoning(text="Thinking.", signature="sig", source="anthropic_messages")


def test_stream_arguments_only_at_the_end_get_one_delta() -> None:  # peers #7
    req = simple_request()
    call = ir.ToolCall("call_1", "f", '{"a": 1}')
    events = run_encoder(req, [ir.StreamStart("r", "m"), ir.StreamPartStart(0, ir.ToolCall("call_1", "f", "")),
                               ir.StreamPartEnd(0, call), ir.StreamFinish("tool_calls")])
    deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert [d["delta"] for d in deltas] == ['{"a": 1}']
    final = accumulate({}, events)
    assert final.output[0].arguments == '{"a": 1}'  # type: ignore[union-attr]


def test_stream_without_finish_ends_in_response_failed() -> None:  # peers #18
    req = simple_request()
    events = run_encoder(req, [ir.StreamStart("r", "m"), ir.StreamPartStart(0, ir.Text("")),
                               ir.StreamPartDelta(0, "partial")])
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "upstream_error"
    assert sum(e["type"].startswith("response.failed") for e in events) == 1


def test_stream_error_code_is_kept_and_terminal_is_sent_once() -> None:
    req = simple_request()
    enc = FORMAT.stream_encoder(req)
    raw = enc.feed(ir.StreamStart("r", "m"))
    raw += enc.feed(ir.StreamError("too long", code="context_length_exceeded", status=400))
    raw += enc.finish() + enc.feed(ir.StreamFinish("stop"))
    events = [orjson.loads(d) for _, d in sse_pairs(raw)]
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"] == {"code": "context_length_exceeded", "message": "too long"}
    # finish(error) before anything was sent still opens and fails the response
    enc = FORMAT.stream_encoder(req)
    events = [orjson.loads(d) for _, d in sse_pairs(enc.finish(ir.StreamError("boom", code="server_error")))]
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    for e in events:
        EVENT.validate_python(e)


def test_stream_length_finish_is_response_incomplete() -> None:
    events = run_encoder(simple_request(), [ir.StreamStart("r", "m"), ir.StreamPartStart(0, ir.Text("")),
                                            ir.StreamPartDelta(0, "cut"), ir.StreamFinish("length")])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [e["type"] for e in events].count("response.output_text.done") == 1  # the open part was closed
    for e in events:
        EVENT.validate_python(e)


def test_stream_gemini_call_extra_rides_in_a_reasoning_item() -> None:
    call = ir.ToolCall("c1", "f", "{}", extra={"thoughtSignature": "TS"})
    events = run_encoder(simple_request(), [ir.StreamPartStart(0, call), ir.StreamPartEnd(0, call),
                                            ir.StreamFinish("tool_calls")], provider="gemini")
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [d["type"] for d in done] == ["function_call", "reasoning"] and "thoughtSignature" not in done[0]
    back = FORMAT.decode_request({"model": "m", "input": codex_echo(done)})
    restored = back.messages[0].parts[0]
    assert isinstance(restored, ir.ToolCall)
    assert (restored.extra, restored.extra_source) == ({"thoughtSignature": "TS"}, "gemini")


# -- stream decoder (a Responses provider upstream) ------------------------------------------------

def decode_stream(raw: bytes) -> list[ir.StreamEvent]:
    dec = FORMAT.stream_decoder()
    out: list[ir.StreamEvent] = []
    for name, data in sse_pairs(raw):
        out += dec.feed(name, data)
    return out + dec.close()


def test_stream_decoder_golden() -> None:
    events = decode_stream((GOLDEN / "stream_reasoning_text_call.sse").read_bytes())
    assert events[0] == ir.StreamStart("resp_abc", "gpt-5.5", 1741290958)
    ends = [e.part for e in events if isinstance(e, ir.StreamPartEnd)]
    reasoning, text, call = ends
    assert isinstance(reasoning, ir.Reasoning) and reasoning.encrypted == "gAAAAB-enc"
    assert reasoning.summary == ["**Plan** Say hi.", "**Then** call."]
    summary = "".join(e.text for e in events if isinstance(e, ir.StreamPartDelta) and e.kind == "summary")
    assert summary == "**Plan** Say hi.\n\n**Then** call."
    assert isinstance(text, ir.Text) and text.text == "Hi there!"
    assert isinstance(call, ir.ToolCall) and (call.call_id, call.arguments) == ("call_1", '{"cmd":"ls"}')
    args = "".join(e.text for e in events if isinstance(e, ir.StreamPartDelta) and e.kind == "arguments")
    assert args == '{"cmd":"ls"}'
    assert events[-1] == ir.StreamFinish("tool_calls", usage=ir.Usage(37, 11))
    # and re-encoded for a Responses client, the same items come out
    req = simple_request()
    out = run_encoder(req, events)
    completed = next(d for n, d in sse_pairs((GOLDEN / "stream_reasoning_text_call.sse").read_bytes())
                     if n == "response.completed")
    golden_done = orjson.loads(completed)["response"]["output"]
    assert out[-1]["response"]["output"] == golden_done
    accumulate({}, out)


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)


def test_stream_decoder_done_without_deltas() -> None:  # peers #7
    raw = _sse([
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": "fc_1", "type": "function_call", "status": "in_progress", "arguments": "", "call_id": "c",
                  "name": "f"}},
        {"type": "response.function_call_arguments.done", "output_index": 0, "item_id": "fc_1",
         "arguments": '{"x":1}'},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {"id": "ctc_1", "type": "custom_tool_call", "call_id": "d", "name": "apply_patch", "input": ""}},
        {"type": "response.output_item.done", "output_index": 1,
         "item": {"id": "ctc_1", "type": "custom_tool_call", "call_id": "d", "name": "apply_patch", "input": "RAW"}},
        {"type": "response.output_item.done", "output_index": 0,
         "item": {"id": "fc_1", "type": "function_call", "status": "completed", "arguments": '{"x":1}',
                  "call_id": "c", "name": "f"}},
        {"type": "response.completed", "response": {"id": "r", "status": "completed"}},
    ])
    events = decode_stream(raw)
    deltas = [(e.index, e.text) for e in events if isinstance(e, ir.StreamPartDelta)]
    assert sorted(deltas) == [(0, '{"x":1}'), (1, "RAW")]
    custom = next(e.part for e in events if isinstance(e, ir.StreamPartEnd))
    assert isinstance(custom, ir.ToolCall) and custom.kind == "custom" and custom.arguments == "RAW"
    assert isinstance(events[-1], ir.StreamFinish) and events[-1].finish_reason == "tool_calls"


def test_stream_decoder_endings() -> None:
    failed = decode_stream(_sse([{"type": "response.failed", "response": {
        "id": "r", "status": "failed", "error": {"code": "server_error", "message": "oops"}}}]))
    assert failed[-1] == ir.StreamError("oops", code="server_error")
    err = decode_stream(_sse([{"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}]))
    assert err[-1] == ir.StreamError("slow down", code="rate_limit_exceeded")
    incomplete = decode_stream(_sse([{"type": "response.incomplete", "response": {
        "id": "r", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}]))
    assert isinstance(incomplete[-1], ir.StreamFinish) and incomplete[-1].finish_reason == "length"
    refusal = decode_stream(_sse([
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": "m", "type": "message", "role": "assistant", "status": "in_progress", "content": []}},
        {"type": "response.refusal.delta", "output_index": 0, "content_index": 0, "item_id": "m", "delta": "No"},
        {"type": "response.refusal.done", "output_index": 0, "content_index": 0, "item_id": "m", "refusal": "No."},
        {"type": "response.output_item.done", "output_index": 0, "item": {
            "id": "m", "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "refusal", "refusal": "No."}]}},
    ]))
    assert ir.StreamPartEnd(1, ir.Refusal("No.")) in refusal or ir.StreamPartEnd(0, ir.Refusal("No.")) in refusal
    assert "".join(e.text for e in refusal if isinstance(e, ir.StreamPartDelta)) == "No."
