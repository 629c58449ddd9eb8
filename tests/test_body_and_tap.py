"""Byte surgery on request bodies and the SSE tap: pure functions, tested directly."""

from __future__ import annotations

import orjson
import pytest

from lockgate.errors import InvalidRequest
from lockgate.observe.tap import SseTap
from lockgate.server.body import ensure_include_usage, peek, replace_model
from lockgate.server.streaming import UsageStripper


def test_replace_model_keeps_every_other_byte() -> None:
    body = b'{"input":[{"model":"openai/gpt-5","x":1.0E+2}],\n "model" :  "openai/gpt-5", "n": 12345678901234567890}'
    out = replace_model(body, "openai/gpt-5", "gpt-5")
    assert out == b'{"input":[{"model":"openai/gpt-5","x":1.0E+2}],\n "model" :  "gpt-5", "n": 12345678901234567890}'


def test_replace_model_escaped_and_unicode() -> None:
    body = b'{"model":"caf\\u00e9/m","k":"v"}'
    assert orjson.loads(replace_model(body, "caf\u00e9/m", "m\u00fc"))["model"] == "m\u00fc"


def test_peek_errors() -> None:
    with pytest.raises(InvalidRequest, match="JSON object"):
        peek(b'"just a string"')
    with pytest.raises(InvalidRequest, match="parse"):
        peek(b'{"model": "x",}')
    with pytest.raises(InvalidRequest, match="stream"):
        peek(b'{"model": "x", "stream": "yes"}')
    assert peek(b'{"model":"m","stream":true,"stream_options":{"include_usage":true}}').stream is True


def test_ensure_include_usage() -> None:
    assert ensure_include_usage(b'{"a":1}', {"include_usage": True}) == (b'{"a":1}', False)
    out, injected = ensure_include_usage(b'{"a":1}', None)
    assert injected and orjson.loads(out) == {"stream_options": {"include_usage": True}, "a": 1}
    out, injected = ensure_include_usage(b'{"a":1,"stream_options":{"x":2}}', {"x": 2})
    assert injected and orjson.loads(out)["stream_options"] == {"x": 2, "include_usage": True}


def test_tap_keeps_terminal_event_across_chunk_boundaries() -> None:
    tap = SseTap(body_cap=40, dialect="responses")
    events = (b'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_1"}}\n\n'
              b'event: response.output_text.delta\ndata: {"delta":"hi"}\n\n'
              b'event: response.completed\ndata: {"type":"response.completed","response":{"usage":{}}}\n\n')
    for i in range(0, len(events), 7):
        tap.feed(events[i:i + 7])
    tap.finish()
    assert tap.response_id == "resp_1" and tap.terminal and tap.first_token_at is not None
    assert [k.split(b"\n")[0] for k in tap.kept] == [b"event: response.created", b"event: response.completed"]
    assert tap.truncated and sum(map(len, tap.body)) <= 40 and tap.size == len(events)


@pytest.mark.parametrize("event", [
    b'event: error\ndata: {"type":"error","error":{"code":"server_error","message":"x"}}\n\n',  # OpenAI over SSE
    b'data: {"type":"error","status":500,"error":{"code":"server_error","message":"x"}}\n\n',  # a socket's frame
])
def test_tap_error_event_ends_a_responses_stream(event: bytes) -> None:
    """Nothing follows OpenAI's in-band error, so the gateway must not add a response.failed of its own."""
    tap = SseTap(body_cap=10_000, dialect="responses")
    tap.feed(b'data: {"type":"response.created","response":{"id":"resp_2"}}\n\n')
    assert not tap.terminal
    tap.feed(event)
    assert tap.terminal and tap.response_id == "resp_2"
    plain = SseTap(body_cap=10_000, dialect="responses")
    plain.feed(b'data: {"type":"response.output_text.delta","delta":"an error: \\"type\\":\\"error\\""}\n\n')
    assert not plain.terminal


def test_tap_chat_usage_and_first_token() -> None:
    tap = SseTap(body_cap=10_000, dialect="chat")
    tap.feed(b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n')
    assert tap.first_token_at is None
    tap.feed(b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":3}}\n\n')
    tap.feed(b"data: [DONE]\n\n")
    assert tap.first_token_at is not None and tap.terminal
    assert tap.kept == [b'data: {"choices":[],"usage":{"prompt_tokens":3}}']


def test_usage_stripper_across_chunks() -> None:
    stream = (b'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n'
              b'data: {"choices":[],"usage":{"prompt_tokens":1}}\n\n'
              b"data: [DONE]\n\n")
    s = UsageStripper()
    out = b"".join(s.feed(stream[i:i + 5]) for i in range(0, len(stream), 5)) + s.flush()
    assert out == b'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n'
