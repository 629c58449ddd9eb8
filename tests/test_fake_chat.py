"""The strict chat-only fake host, exercised with the official openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.fakes.chat_upstream import PATCH, REASONING, FakeChatHost

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                            "parameters": {"type": "object", "properties": {
                                                "city": {"type": "string"}, "days": {"type": "integer"}},
                                                "required": ["city"]}}}
APPLY_PATCH = {"type": "function", "function": {"name": "apply_patch", "parameters": {
    "type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}}}


@pytest.fixture(scope="module")
def host() -> Iterator[FakeChatHost]:
    with FakeChatHost() as h:
        yield h


@pytest.fixture
def client(host: FakeChatHost) -> openai.OpenAI:
    return openai.OpenAI(base_url=host.url, api_key=host.api_key, max_retries=0)


def _post(host: FakeChatHost, body: dict[str, Any], path: str = "/chat/completions") -> httpx.Response:
    return httpx.post(host.url + path, content=orjson.dumps(body),
                      headers={"authorization": f"Bearer {host.api_key}", "content-type": "application/json"})


def test_text_answer(client: openai.OpenAI) -> None:
    c = client.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": "hi"}])
    assert c.choices[0].message.content == "Hello from the chat fake: hi"
    assert c.choices[0].finish_reason == "stop"
    assert c.usage is not None and c.usage.prompt_tokens > 0


def test_stream_with_usage_and_reasoning(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(model="fake-reasoning", messages=[{"role": "user", "content": "hi"}],
                                        stream_options={"include_usage": True}) as stream:
        chunks = list(stream)
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from the chat fake: hi"
    assert final.usage is not None and final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.reasoning_tokens == len(REASONING.split())
    raw = [c.chunk for c in chunks if c.type == "chunk"]
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in raw if c.choices)
    assert reasoning == REASONING
    assert raw[-1].choices == [] and raw[-1].usage is not None


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    raw = list(client.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": "x"}],
                                              stream=True))
    assert all(c.choices and c.usage is None for c in raw)
    assert raw[-1].choices[0].finish_reason == "stop"


def test_tool_round_trip(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    first = client.chat.completions.create(model="fake-chat", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.type == "function" and call.function.name == "get_weather"
    assert orjson.loads(call.function.arguments) == {"city": "fake", "days": 1}
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = client.chat.completions.create(model="fake-chat", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
    assert second.choices[0].message.content == f"Tool results: {call.id}: sunny"


def test_streamed_tool_call_assembled_by_sdk(client: openai.OpenAI) -> None:
    for model in ("fake-chat", "fake-args-at-end"):
        with client.chat.completions.stream(model=model, messages=[{"role": "user", "content": "patch it"}],
                                            tools=[APPLY_PATCH]) as stream:  # type: ignore[list-item]
            final = stream.get_final_completion()
        call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert orjson.loads(call.function.arguments) == {"input": PATCH}, model  # type: ignore[union-attr]


def test_args_at_end_sends_empty_pieces_first(host: FakeChatHost) -> None:
    body = {"model": "fake-args-at-end", "stream": True, "messages": [{"role": "user", "content": "go"}],
            "tools": [WEATHER]}
    lines = [ln[6:] for ln in _post(host, body).text.split("\n") if ln.startswith("data: ")]
    pieces = [c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
              for c in map(orjson.loads, lines[:-1]) if c["choices"][0]["delta"].get("tool_calls")]
    assert pieces[:-1] == ["", "", "", ""] and orjson.loads(pieces[-1]) == {"city": "fake", "days": 1}
    assert lines[-1] == "[DONE]"


def test_responses_api_is_not_there(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="fake-chat", input="hi")


def test_error_models(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="fake-error-429", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="fake-error-500", messages=[{"role": "user", "content": "hi"}])


CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


@pytest.mark.parametrize(("body", "needle"), [
    ({"tools": [{"type": "custom", "custom": {"name": "apply_patch"}}],
      "messages": [{"role": "user", "content": "x"}]}, "only 'function'"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_1", "content": "r"}]},
     "must be a response to a preceding"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [CALL]},
                   {"role": "user", "content": "and?"}]}, "must be followed by tool messages"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [CALL]}]},
     "did not have response messages: call_1"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [CALL]},
                   {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "image_url", "image_url": {}}]}]},
     "string or an array of text parts"),
    ({"messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "x"}]}, "unknown variant"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "custom", "custom": {"name": "p", "input": "raw"}}]}]}, "type 'function'"),
])
def test_strict_rejections(host: FakeChatHost, body: dict[str, Any], needle: str) -> None:
    r = _post(host, {"model": "fake-chat", **body})
    assert r.status_code == 400
    assert needle in r.json()["error"]["message"]


def test_valid_tool_block_accepted_in_any_order_within_the_block(host: FakeChatHost) -> None:
    second = {**CALL, "id": "call_2"}
    r = _post(host, {"model": "fake-chat", "messages": [
        {"role": "user", "content": "x"}, {"role": "assistant", "content": "two calls", "tool_calls": [CALL, second]},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "b"}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "Tool results: call_2: b | call_1: a"


def test_bad_key(host: FakeChatHost) -> None:
    r = httpx.post(host.url + "/chat/completions", json={"model": "m"}, headers={"authorization": "Bearer nope"})
    assert r.status_code == 401
