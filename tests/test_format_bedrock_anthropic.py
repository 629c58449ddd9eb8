"""Anthropic's Messages API on Bedrock (InvokeModel): body, stream framing, where reasoning may go."""

from __future__ import annotations

import base64

import orjson

from lockgate import ir
from lockgate.formats.bedrock_anthropic import FORMAT, NAME
from lockgate.formats.bedrock_converse.eventstream import event_message, exception_message
from lockgate.formats.fit import fit_request


def _chunk(event: dict[str, object]) -> bytes:
    return event_message("chunk", {"bytes": base64.b64encode(orjson.dumps(event)).decode()})


def test_body_is_anthropics_with_bedrocks_version_and_no_model_or_stream() -> None:
    own = ir.Reasoning(text="plan", signature="sig-from-bedrock", source=NAME)
    req = ir.Request(model="us.anthropic.claude-sonnet-4-5-v1:0", stream=True, max_output_tokens=2000,
                     thinking_budget=1024, messages=[
                         ir.Message("user", [ir.Text("hi")]),
                         ir.Message("assistant", [own, ir.Text("hello")]),
                         ir.Message("user", [ir.Text("again")])])
    body = FORMAT.encode_request(fit_request(req, NAME).request)
    assert next(iter(body)) == "anthropic_version" and body["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in body and "stream" not in body and body["max_tokens"] == 2000
    thinking = body["messages"][1]["content"][0]
    assert thinking == {"type": "thinking", "thinking": "plan", "signature": "sig-from-bedrock"}
    # Reasoning made by Anthropic's own API is never sent to Bedrock (the signature would not verify).
    req.messages[1].parts[0] = ir.Reasoning(text="plan", signature="sig-from-api", source="anthropic_messages")
    body = FORMAT.encode_request(fit_request(req, NAME).request)
    assert all(b["type"] != "thinking" for b in body["messages"][1]["content"])


def test_stream_chunks_decode_to_anthropic_events_with_bedrock_reasoning() -> None:
    frames = b"".join([
        _chunk({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                     "model": "claude", "content": [], "stop_reason": None,
                                                     "stop_sequence": None,
                                                     "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        _chunk({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                             "signature": ""}}),
        _chunk({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}),
        _chunk({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "S"}}),
        _chunk({"type": "content_block_stop", "index": 0}),
        _chunk({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 5}}),
        _chunk({"type": "message_stop"}),
    ])
    reader, decoder = FORMAT.stream_reader(), FORMAT.stream_decoder()
    events: list[ir.StreamEvent] = []
    for i in range(0, len(frames), 7):  # however the bytes are cut
        for name, data in reader.feed(frames[i:i + 7]):
            events += decoder.feed(name, data)
    events += decoder.close()
    ends = [e for e in events if isinstance(e, ir.StreamPartEnd)]
    assert len(ends) == 1 and isinstance(ends[0].part, ir.Reasoning)
    assert (ends[0].part.text, ends[0].part.signature, ends[0].part.source) == ("hm", "S", NAME)
    finish = events[-1]
    assert isinstance(finish, ir.StreamFinish) and finish.finish_reason == "stop"
    assert finish.usage is not None and finish.usage.input_tokens == 12 and finish.usage.output_tokens == 5


def test_a_bedrock_exception_mid_stream_is_a_stream_error() -> None:
    reader, decoder = FORMAT.stream_reader(), FORMAT.stream_decoder()
    raw = exception_message("throttlingException", {"message": "Too many requests"})
    events = [e for name, data in reader.feed(raw) for e in decoder.feed(name, data)]
    assert len(events) == 1 and isinstance(events[0], ir.StreamError)
    assert "Too many requests" in events[0].message and events[0].code == "rate_limit_error"
