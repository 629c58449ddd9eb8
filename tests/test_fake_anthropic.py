"""The fake Anthropic upstream, checked with the official anthropic SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.fakes.anthropic_upstream import PATCH, FakeAnthropic, sign_thinking, sse_events

TOOLS: list[Any] = [{"name": "get_weather", "description": "Weather for a city",
                     "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                                       "days": {"type": "integer"}}}}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as f:
        yield f


@pytest.fixture
def client(fake: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=fake.api_key, base_url=fake.url, max_retries=0)


def test_create_text(client: anthropic.Anthropic, fake: FakeAnthropic) -> None:
    msg = client.messages.create(model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].type == "text" and msg.content[0].text == "Hello! You said: hi"
    assert msg.stop_reason == "end_turn" and msg.usage.input_tokens > 0
    rec = fake.requests[-1]
    assert rec.path == "/v1/messages" and rec.headers["anthropic-version"] == anthropic._constants.ANTHROPIC_API_VERSION


def test_stream_accumulates_to_the_same_message(client: anthropic.Anthropic) -> None:
    kwargs: Any = {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "stream me"}]}
    direct = client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == direct.content[0].text  # type: ignore[union-attr]
    assert final.model_dump() == direct.model_dump()


def test_stream_event_order(fake: FakeAnthropic) -> None:
    r = httpx.post(f"{fake.url}/v1/messages", headers={"x-api-key": fake.api_key, "anthropic-version": "2023-06-01"},
                   json={"model": "m", "max_tokens": 9, "stream": True, "tools": TOOLS,
                         "thinking": {"type": "enabled", "budget_tokens": 1024},
                         "messages": [{"role": "user", "content": "weather?"}]})
    names = [n for n, _ in sse_events(r.content)]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2


def test_tool_round_trip(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model="m", max_tokens=100, tools=TOOLS,
                                   messages=[{"role": "user", "content": "weather in Paris?"}])
    call = first.content[0]
    assert first.stop_reason == "tool_use" and call.type == "tool_use"
    assert call.name == "get_weather" and call.input == {"city": "fake", "days": 1}
    second = client.messages.create(model="m", max_tokens=100, tools=TOOLS, messages=[
        {"role": "user", "content": "weather in Paris?"}, first.to_param(),
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}])
    assert second.content[0].text == f"Tool results: {call.id}=sunny"  # type: ignore[union-attr]


def test_tool_stream_arguments(client: anthropic.Anthropic) -> None:
    tools: Any = [{"name": "apply_patch", "input_schema": {"type": "object",
                                                           "properties": {"input": {"type": "string"}}}}]
    with client.messages.stream(model="m", max_tokens=100, tools=tools,
                                messages=[{"role": "user", "content": "patch it"}]) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == {"input": PATCH}  # type: ignore[union-attr]


def test_thinking_signature_round_trip_and_forgery(client: anthropic.Anthropic) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    first = client.messages.create(model="m", max_tokens=2000, thinking=thinking, tools=TOOLS,
                                   messages=[{"role": "user", "content": "think"}])
    block = first.content[0]
    assert block.type == "thinking" and block.signature == sign_thinking(block.thinking)
    call = first.content[1]
    assert call.type == "tool_use"
    turn: list[Any] = [{"role": "user", "content": "think"}, first.to_param(),
                       {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "x"}]}]
    assert client.messages.create(model="m", max_tokens=2000, thinking=thinking, tools=TOOLS, messages=turn).content
    turn[1] = {"role": "assistant", "content": [{"type": "thinking", "thinking": block.thinking + " (edited)",
                                                 "signature": block.signature}, call.model_dump()]}
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="m", max_tokens=2000, thinking=thinking, tools=TOOLS, messages=turn)
    assert "Invalid `signature` in `thinking` block" in str(e.value)


def test_count_tokens(client: anthropic.Anthropic) -> None:
    n = client.messages.count_tokens(model="m", messages=[{"role": "user", "content": "count me"}])
    assert n.input_tokens > 0


@pytest.mark.parametrize(("messages", "extra", "needle"), [
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], {}, "roles must alternate"),
    ([{"role": "user", "content": "a"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
      {"role": "user", "content": "no result"}], {}, "without `tool_result` blocks immediately after"),
    ([{"role": "user", "content": "a"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "1"},
                                   {"type": "tool_result", "tool_use_id": "toolu_1", "content": "2"}]}],
     {}, "each tool_use must have a single result"),
    ([{"role": "user", "content": [{"type": "text", "text": str(i), "cache_control": {"type": "ephemeral"}}
                                   for i in range(5)]}], {}, "A maximum of 4 blocks with cache_control"),
    ([{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                "data": "not base64!"}}]}], {}, "invalid base64"),
])
def test_rejects_like_the_api(client: anthropic.Anthropic, messages: Any, extra: Any, needle: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="m", max_tokens=10, messages=messages, **extra)
    assert needle in str(e.value)
    assert e.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_missing_max_tokens_and_headers(fake: FakeAnthropic) -> None:
    url, body = f"{fake.url}/v1/messages", {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    ok_headers = {"x-api-key": fake.api_key, "anthropic-version": "2023-06-01"}
    r = httpx.post(url, headers=ok_headers, json=body)
    assert r.status_code == 400 and r.json()["error"]["message"] == "max_tokens: Field required"
    r = httpx.post(url, headers={"anthropic-version": "2023-06-01"}, json=body)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = httpx.post(url, headers={"x-api-key": fake.api_key}, json=body)
    assert r.status_code == 400 and "anthropic-version" in r.json()["error"]["message"]


def test_overloaded_and_status_errors(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as e:
        client.messages.create(model="fake-overloaded", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 529 and e.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="fake-error-429", max_tokens=10, messages=[{"role": "user", "content": "x"}])


def test_overloaded_mid_stream(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as e, client.messages.stream(
            model="fake-overloaded", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as stream:
        for _ in stream:
            pass
    assert "overloaded_error" in str(e.value)
