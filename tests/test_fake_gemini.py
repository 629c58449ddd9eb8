"""The fake Gemini upstream, checked with the official google-genai SDK; and the Gemini
provider adapter with the Gemini format, end to end against the fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors as gerrors
from google.genai import types as gt

from lockgate import ir
from lockgate.config import ProviderSettings
from lockgate.formats.gemini import FORMAT
from lockgate.formats.sse import SseReader
from lockgate.providers.gemini import DEFAULT_BASE_URL, GeminiProvider
from tests.fakes.gemini_upstream import FakeGemini

KEY = "gemini-test-key"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY) as f:
        yield f


@pytest.fixture
def client(fake: FakeGemini) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=gt.HttpOptions(base_url=fake.url))


def post(fake: FakeGemini, model: str, body: Any, *, stream: bool = False, key: str | None = KEY) -> httpx.Response:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    headers = {"x-goog-api-key": key} if key else {}
    return httpx.post(f"{fake.base_url}/models/{model}:{method}", content=orjson.dumps(body), headers=headers)


HELLO = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
WEATHER_DECL = {"name": "get_weather", "description": "Weather", "parametersJsonSchema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


# -- with the SDK ------------------------------------------------------------------------------

def test_sdk_generate_content(client: genai.Client, fake: FakeGemini) -> None:
    r = client.models.generate_content(model="gemini-2.0-flash", contents="Hi there")
    assert r.text == "Hello! You said: Hi there"
    assert r.candidates and r.candidates[0].finish_reason == gt.FinishReason.STOP
    assert r.model_version == "gemini-2.0-flash" and r.response_id
    assert r.usage_metadata and r.usage_metadata.candidates_token_count == 5
    assert r.usage_metadata.thoughts_token_count is None
    assert fake.requests[-1].headers["x-goog-api-key"] == KEY


def test_sdk_thoughts_and_signature(client: genai.Client) -> None:
    config = gt.GenerateContentConfig(thinking_config=gt.ThinkingConfig(include_thoughts=True))
    r = client.models.generate_content(model="gemini-3-flash-preview", contents="Why?", config=config)
    assert r.candidates and r.candidates[0].content and r.candidates[0].content.parts
    thought, answer = r.candidates[0].content.parts
    assert thought.thought and thought.text == "Thinking about: Why?"
    assert answer.text == "Hello! You said: Why?" and answer.thought_signature
    assert r.usage_metadata and r.usage_metadata.thoughts_token_count


def test_sdk_stream(client: genai.Client) -> None:
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="one two three four"))
    assert "".join(c.text or "" for c in chunks) == "Hello! You said: one two three four"
    assert len(chunks) > 2
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == gt.FinishReason.STOP
    assert last.candidates[0].content and last.candidates[0].content.parts
    assert last.candidates[0].content.parts[0].thought_signature  # the empty signed final part
    assert last.usage_metadata and last.usage_metadata.candidates_token_count == 7
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])


def test_sdk_function_calling_round_trip(client: genai.Client) -> None:
    config = gt.GenerateContentConfig(
        tools=[gt.Tool(function_declarations=[gt.FunctionDeclaration(**WEATHER_DECL)])],
        automatic_function_calling=gt.AutomaticFunctionCallingConfig(disable=True))
    history: list[gt.Content] = [gt.Content(role="user", parts=[gt.Part(text="Weather in Paris?")])]
    first = client.models.generate_content(model="gemini-3-pro-preview", contents=history, config=config)
    assert first.function_calls and first.function_calls[0].name == "get_weather"
    call = first.function_calls[0]
    assert call.args == {"city": "test"} and call.id
    assert first.candidates and first.candidates[0].content
    model_turn = first.candidates[0].content
    assert model_turn.parts and model_turn.parts[0].thought_signature
    answer = gt.Part(function_response=gt.FunctionResponse(name=call.name, id=call.id, response={"output": "18C"}))
    history += [model_turn, gt.Content(role="user", parts=[answer])]
    second = client.models.generate_content(model="gemini-3-pro-preview", contents=history, config=config)
    assert second.text == 'Function get_weather returned {"output":"18C"}.'
    # Gemini 3 refuses a replayed call without its signature.
    model_turn.parts[0].thought_signature = None
    with pytest.raises(gerrors.ClientError) as e:
        client.models.generate_content(model="gemini-3-pro-preview", contents=history, config=config)
    assert e.value.code == 400 and "thought_signature" in str(e.value.message)


def test_sdk_chat_with_automatic_function_calling(client: genai.Client) -> None:
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"sunny in {city}"

    chat = client.chats.create(model="gemini-3-flash-preview", config=gt.GenerateContentConfig(tools=[get_weather]))
    r = chat.send_message("Weather?")
    assert r.text == 'Function get_weather returned {"result":"sunny in test"}.'


# -- protocol details --------------------------------------------------------------------------

def test_auth_errors(fake: FakeGemini) -> None:
    missing = post(fake, "gemini-2.5-flash", HELLO, key=None)
    assert missing.status_code == 403 and missing.json()["error"]["status"] == "PERMISSION_DENIED"
    bad = post(fake, "gemini-2.5-flash", HELLO, key="wrong")
    assert bad.status_code == 400
    err = bad.json()["error"]
    assert (err["code"], err["status"], err["details"][0]["reason"]) == (400, "INVALID_ARGUMENT", "API_KEY_INVALID")
    assert httpx.post(f"{fake.base_url}/models/gemini-2.5-flash:generateContent?key={KEY}",
                      content=orjson.dumps(HELLO)).status_code == 200


@pytest.mark.parametrize(("status", "name"), [(429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_error_models(fake: FakeGemini, status: int, name: str) -> None:
    r = post(fake, f"fake-error-{status}", HELLO)
    assert r.status_code == status
    err = r.json()["error"]
    assert (err["code"], err["status"]) == (status, name) and err["message"].endswith(f"fake upstream error {status}")
    if status == 429:  # a per-minute quota, as Gemini reports it: the retry delay in the body's details
        assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "20.5s"} in err["details"]
    else:
        assert "details" not in err


def call_turn(name: str = "get_weather", **extra: Any) -> dict[str, Any]:
    return {"role": "model", "parts": [{"functionCall": {"name": name, "args": {"city": "x"}}, **extra}]}


def response_turn(name: str = "get_weather") -> dict[str, Any]:
    return {"role": "user", "parts": [{"functionResponse": {"name": name, "response": {"output": "ok"}}}]}


USER = {"role": "user", "parts": [{"text": "q"}]}


@pytest.mark.parametrize(("body", "message"), [
    ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
    ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
    ({"contents": [{"role": "user", "parts": [{"text": ""}]}]}, "empty text parameter"),
    ({"contents": [USER, response_turn()]}, "function response turn comes immediately after a function call"),
    ({"contents": [USER, call_turn(), {"role": "user", "parts": [
        response_turn()["parts"][0], response_turn()["parts"][0]]}]}, "number of function response parts"),
    ({"contents": [USER, call_turn(), response_turn("other")]}, "does not match"),
    ({**HELLO, "generationConfig": {"max_tokens": 5}}, 'Unknown name "maxTokens"'),
    ({**HELLO, "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}}]}]},
     'Unknown name "additionalProperties"'),
    ({**HELLO, "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {
        "$schema": "x", "type": "object"}}]}]}, 'Unknown name "$schema"'),
    ({"contents": [{"role": "user", "parts": [{"text": "a", "inlineData": {"mimeType": "image/png", "data": ""}}]}]},
     "oneof"),
    ({"contents": [USER, call_turn(thoughtSignature="bm90LWlzc3VlZA=="), response_turn()]}, "Corrupted"),
    ({"contents": [USER, call_turn(), response_turn()]}, "missing a `thought_signature`"),
    ({**HELLO, "generationConfig": {"thinkingConfig": {"thinkingBudget": 10, "thinkingLevel": "LOW"}}},
     "only set one"),
])
def test_validation(fake: FakeGemini, body: dict[str, Any], message: str) -> None:
    r = post(fake, "gemini-3-pro-preview", body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT" and message in r.json()["error"]["message"]


def test_placeholder_signature_is_accepted_and_old_turns_are_not_checked(fake: FakeGemini) -> None:
    old = [USER, call_turn(), response_turn(), {"role": "model", "parts": [{"text": "done"}]}]
    body = {"contents": [*old, USER, call_turn(thoughtSignature="skip_thought_signature_validator"), response_turn()]}
    assert post(fake, "gemini-3-pro-preview", body).status_code == 200
    # Gemini 2.5 does not insist on signatures.
    assert post(fake, "gemini-2.5-flash", {"contents": [USER, call_turn(), response_turn()]}).status_code == 200


def test_stream_without_sse_is_a_json_array(fake: FakeGemini) -> None:
    r = httpx.post(f"{fake.base_url}/models/gemini-2.0-flash:streamGenerateContent", content=orjson.dumps(HELLO),
                   headers={"x-goog-api-key": KEY})
    chunks = r.json()
    assert isinstance(chunks, list) and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    for c in chunks:
        gt.GenerateContentResponse.model_validate_json(orjson.dumps(c))


def test_max_tokens_and_json_mode(fake: FakeGemini) -> None:
    r = post(fake, "gemini-2.0-flash", {**HELLO, "generationConfig": {"maxOutputTokens": 2}}).json()
    assert r["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert r["candidates"][0]["content"]["parts"][0]["text"] == "Hello! You"
    j = post(fake, "gemini-2.0-flash", {**HELLO, "generationConfig": {"responseMimeType": "application/json"}}).json()
    assert orjson.loads(j["candidates"][0]["content"]["parts"][0]["text"]) == {"answer": "Hello! You said: hello"}


# -- the provider adapter and the format, against the fake --------------------------------------

def provider(fake: FakeGemini, base: str | None = None) -> GeminiProvider:
    return GeminiProvider("gemini", ProviderSettings(base_url=base or fake.base_url), api_key=KEY)


def test_provider_urls_and_headers() -> None:
    p = GeminiProvider("g", ProviderSettings(base_url=DEFAULT_BASE_URL, headers={"X-Extra": "1"}), api_key="k")
    assert p.apis == frozenset({"gemini"})
    assert p.request_url("gemini", "gemini-2.5-flash", stream=False) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent")
    assert p.request_url("gemini", "models/gemini-2.5-flash", stream=True) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert p.url("/models") == "https://generativelanguage.googleapis.com/v1beta/models"
    assert p.auth_headers() == [("x-extra", "1"), ("x-goog-api-key", "k")]
    assert p.client_key_headers([("Authorization", "Bearer mine")]) == [("x-extra", "1"), ("x-goog-api-key", "mine")]
    assert p.client_key_headers([("x-api-key", "mine2")])[-1] == ("x-goog-api-key", "mine2")
    bare = GeminiProvider("g", ProviderSettings(base_url="https://generativelanguage.googleapis.com/"), None)
    assert bare.url("/x") == "https://generativelanguage.googleapis.com/v1beta/x" and bare.auth_headers() == []
    assert GeminiProvider("g", ProviderSettings(base_url="http://h/v1"), None).url("/x") == "http://h/v1/x"
    with pytest.raises(KeyError):
        p.request_url("chat", "m", stream=False)


def send(fake: FakeGemini, req: ir.Request) -> ir.Response:
    p = provider(fake)
    r = httpx.post(p.request_url("gemini", req.model, stream=False), content=orjson.dumps(FORMAT.encode_request(req)),
                   headers=p.auth_headers())
    assert r.status_code == 200, r.text
    return FORMAT.decode_response(r.json())


def send_stream(fake: FakeGemini, req: ir.Request) -> list[ir.StreamEvent]:
    p = provider(fake)
    r = httpx.post(p.request_url("gemini", req.model, stream=True), content=orjson.dumps(FORMAT.encode_request(req)),
                   headers=p.auth_headers())
    assert r.status_code == 200, r.text
    reader, dec = SseReader(), FORMAT.stream_decoder()
    events: list[ir.StreamEvent] = []
    for name, data in reader.feed(r.content) + reader.close():
        events += dec.feed(name, data)
    return events + dec.close()


WEATHER = ir.Tool("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}},
                                             "required": ["city"], "additionalProperties": False})


@pytest.mark.parametrize("model", ["gemini-3-pro-preview", "gemini-2.0-flash", "fake-parallel-thinking"])
def test_tool_round_trip_through_the_fake(fake: FakeGemini, model: str) -> None:
    history = [ir.Message("user", [ir.Text("Weather in Paris?")])]
    req = ir.Request(model=model, messages=history, tools=[WEATHER, ir.Tool("noop")], reasoning_effort="low")
    first = send(fake, req)
    assert first.finish_reason == "tool_calls"
    calls = [p for p in first.content if isinstance(p, ir.ToolCall)]
    assert [c.name for c in calls] == (["get_weather", "noop"] if "parallel" in model else ["get_weather"])
    history += [ir.Message("assistant", first.content),
                ir.Message("tool", [ir.ToolResult(c.call_id, "18C") for c in reversed(calls)])]
    second = send(fake, ir.Request(model=model, messages=history, tools=req.tools))
    assert second.finish_reason == "stop"
    assert second.content[-1] == ir.Text(
        " ".join(f'Function {c.name} returned {{"output":"18C"}}.' for c in calls),
        extra=second.content[-1].extra)  # type: ignore[union-attr]


def test_streamed_call_round_trip_keeps_its_signature(fake: FakeGemini) -> None:
    history = [ir.Message("user", [ir.Text("Weather in Paris?")])]
    events = send_stream(fake, ir.Request(model="gemini-3-pro-preview", messages=history, tools=[WEATHER]))
    assert isinstance(events[0], ir.StreamStart) and isinstance(events[-1], ir.StreamFinish)
    assert events[-1].finish_reason == "tool_calls" and events[-1].usage and events[-1].usage.reasoning_tokens
    parts = [e.part for e in events if isinstance(e, ir.StreamPartEnd)]
    call = parts[0]
    assert isinstance(call, ir.ToolCall) and call.extra["thoughtSignature"]
    history += [ir.Message("assistant", parts), ir.Message("tool", [ir.ToolResult(call.call_id, "18C")])]
    events = send_stream(fake, ir.Request(model="gemini-3-pro-preview", messages=history, tools=[WEATHER]))
    text = "".join(e.text for e in events if isinstance(e, ir.StreamPartDelta))
    assert text == 'Function get_weather returned {"output":"18C"}.'
    end = next(e.part for e in events if isinstance(e, ir.StreamPartEnd))
    assert isinstance(end, ir.Text) and end.extra["thoughtSignature"]  # signed by the empty final part
    # The signed text goes back too, and the fake accepts only signatures it issued.
    history += [ir.Message("assistant", [end]), ir.Message("user", [ir.Text("thanks")])]
    assert send(fake, ir.Request(model="gemini-3-pro-preview", messages=history)).finish_reason == "stop"


def test_foreign_history_is_accepted_by_a_strict_model(fake: FakeGemini) -> None:
    """Calls made by another provider carry no signature: the placeholder gets them through."""
    history = [
        ir.Message("user", [ir.Text("Weather in Paris?")]),
        ir.Message("assistant", [ir.Text("Checking."), ir.ToolCall("toolu_01", "get_weather", '{"city":"Paris"}')]),
        ir.Message("tool", [ir.ToolResult("toolu_01", "18C")]),
    ]
    r = send(fake, ir.Request(model="gemini-3-pro-preview", messages=history, tools=[WEATHER]))
    assert r.content[-1].text == 'Function get_weather returned {"output":"18C"}.'  # type: ignore[union-attr]


def test_dropped_stream_ends_without_finish(fake: FakeGemini) -> None:
    events = send_stream(fake, ir.Request(model="fake-drop", messages=[ir.Message("user", [ir.Text("a b c d e")])]))
    assert isinstance(events[-1], ir.StreamPartEnd)
    assert not any(isinstance(e, ir.StreamFinish) for e in events)
