"""Any inbound API to any provider, through a real lockgate process, with the official SDKs as clients.

The upstreams are protocol-true fakes (tests/fakes/) that validate requests the way the
real APIs do, so a translation that sends something the provider would reject fails here.
Each provider is reached by a model-name pattern: `gpt-*` OpenAI (Responses and chat
native), `claude-*` Anthropic, `gemini-*` Gemini, `local-*` a chat-only compatible host,
`bedrock-*` Bedrock Converse, `*.anthropic.*` Claude on Bedrock through InvokeModel
(Anthropic's own body).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.fakes import anthropic_upstream as anthropic_fake
from tests.fakes.openai_upstream import sse_events
from tests.gateway_proc import GatewayProcess

MODELS = {"openai": "gpt-5-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash",
          "chat-only": "local-qwen3", "bedrock": "bedrock-claude",
          "bedrock-invoke": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}
PROVIDERS = list(MODELS)
# A 1x1 PNG: images must survive every path.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a4e5e7a40000000049454e44ae426082")).decode()
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def gw(tgw: GatewayProcess) -> GatewayProcess:
    return tgw


def _openai(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url, api_key=gw.key, max_retries=0, timeout=20)


def _anthropic(gw: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.root, api_key=gw.key, max_retries=0, timeout=20)


# -- Chat Completions in ------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_chat_text(gw: GatewayProcess, provider: str, stream: bool) -> None:
    client = _openai(gw)
    messages: list[Any] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    if not stream:
        done = client.chat.completions.create(model=MODELS[provider], messages=messages)
        text = done.choices[0].message.content or ""
        usage = done.usage
        rid = client.chat.completions.with_raw_response.create(
            model=MODELS[provider], messages=messages).headers["lockgate-request-id"]
    else:
        chunks = list(client.chat.completions.create(model=MODELS[provider], messages=messages, stream=True,
                                                     stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = chunks[-1].usage
        assert chunks[-1].choices == [] and [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        rid = None
    assert text.strip()
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    if rid is not None:
        row = gw.row(rid)
        assert row["status"] == 200 and row["api"] == "chat" and row["input_tokens"] > 0
        native = provider in ("openai", "chat-only")
        assert bool(row["translated"]) is not native
        assert row["provider_api"] == {"openai": "chat", "chat-only": "chat", "anthropic": "messages",
                                       "gemini": "gemini", "bedrock": "converse",
                                       "bedrock-invoke": "invoke"}[provider]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_chat_tool_round_trip(gw: GatewayProcess, provider: str, stream: bool) -> None:
    client = _openai(gw)
    tools: list[Any] = [{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
                                                          "parameters": WEATHER}}]
    messages: list[Any] = [{"role": "user", "content": "call tool get_weather for Paris"}]
    if stream:
        acc: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in client.chat.completions.create(model=MODELS[provider], messages=messages, tools=tools,
                                                    stream=True):
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for tc in choice.delta.tool_calls or []:
                    slot = acc.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = tc.id or slot["id"]
                    if tc.function is not None:
                        slot["name"] = tc.function.name or slot["name"]
                        slot["arguments"] += tc.function.arguments or ""
        calls = [acc[i] for i in sorted(acc)]
        assert finish == "tool_calls"
    else:
        done = client.chat.completions.create(model=MODELS[provider], messages=messages, tools=tools)
        assert done.choices[0].finish_reason == "tool_calls"
        calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}  # type: ignore[union-attr]
                 for c in done.choices[0].message.tool_calls or []]
    assert len(calls) == 1 and calls[0]["name"] == "get_weather" and calls[0]["id"]
    args = orjson.loads(calls[0]["arguments"])
    assert isinstance(args, dict)
    messages += [{"role": "assistant", "content": None,
                  "tool_calls": [{"id": calls[0]["id"], "type": "function",
                                  "function": {"name": "get_weather", "arguments": calls[0]["arguments"]}}]},
                 {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny, 21 C"}]
    final = client.chat.completions.create(model=MODELS[provider], messages=messages, tools=tools)
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content


@pytest.mark.parametrize("provider", PROVIDERS)
def test_chat_image(gw: GatewayProcess, provider: str) -> None:
    content: list[Any] = [{"type": "text", "text": "What is in this image?"},
                          {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]
    done = _openai(gw).chat.completions.create(model=MODELS[provider],
                                               messages=[{"role": "user", "content": content}])
    assert done.choices[0].message.content


# -- Anthropic Messages in -------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_messages_text_and_stream(gw: GatewayProcess, provider: str) -> None:
    client = _anthropic(gw)
    raw = client.messages.with_raw_response.create(model=MODELS[provider], max_tokens=256, system="Be brief.",
                                                   messages=[{"role": "user", "content": "Say hello"}])
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant" and msg.stop_reason == "end_turn"
    assert msg.content[0].type == "text" and msg.content[0].text.strip()
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    row = gw.row(raw.headers["lockgate-request-id"])
    assert row["api"] == "messages" and row["status"] == 200 and bool(row["translated"]) is (provider != "anthropic")
    with client.messages.stream(model=MODELS[provider], max_tokens=256,
                                messages=[{"role": "user", "content": "Say hello"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip() and final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_messages_tool_round_trip(gw: GatewayProcess, provider: str, stream: bool) -> None:
    client = _anthropic(gw)
    tools: list[Any] = [{"name": "get_weather", "description": "Weather.", "input_schema": WEATHER}]
    messages: list[Any] = [{"role": "user", "content": "call tool get_weather for Paris"}]
    if stream:
        with client.messages.stream(model=MODELS[provider], max_tokens=256, tools=tools, messages=messages) as s:
            msg = s.get_final_message()
    else:
        msg = client.messages.create(model=MODELS[provider], max_tokens=256, tools=tools, messages=messages)
    assert msg.stop_reason == "tool_use"
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather" and isinstance(uses[0].input, dict)
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id,
                                               "content": "sunny, 21 C"}]}]
    final = client.messages.create(model=MODELS[provider], max_tokens=256, tools=tools, messages=messages)
    assert final.stop_reason == "end_turn" and final.content[0].type == "text"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_messages_image(gw: GatewayProcess, provider: str) -> None:
    msg = _anthropic(gw).messages.create(model=MODELS[provider], max_tokens=128, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "What is in this image?"}]}])
    assert msg.content[0].type == "text" and msg.content[0].text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_count_tokens_native_or_estimated(gw: GatewayProcess, provider: str) -> None:
    raw = _anthropic(gw).messages.with_raw_response.count_tokens(
        model=MODELS[provider], messages=[{"role": "user", "content": "How many tokens is this? " * 20}])
    count = raw.parse()
    assert count.input_tokens > 50
    assert (raw.headers.get("lockgate-token-count") == "estimated") is (provider != "anthropic")


def test_messages_errors_are_anthropic_shaped(gw: GatewayProcess) -> None:
    client = _anthropic(gw)
    with pytest.raises(anthropic.NotFoundError) as nf:
        client.messages.create(model="mystery-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    body = nf.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "not_found_error" and "mystery-model" in body["error"]["message"]
    with pytest.raises(anthropic.AuthenticationError) as auth:
        anthropic.Anthropic(base_url=gw.root, api_key="lg-wrong", max_retries=0).messages.create(
            model=MODELS["anthropic"], max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert isinstance(auth.value.body, dict) and auth.value.body["error"]["type"] == "authentication_error"


# -- OpenAI Responses in (what Codex speaks) ---------------------------------------------------------

PATCH_TOOL: dict[str, Any] = {"type": "custom", "name": "apply_patch", "description": "Edit files with a patch.",
                              "format": {"type": "grammar", "syntax": "lark",
                                         "definition": 'start: "*** Begin Patch" LF hunk+ "*** End Patch"'}}
CODEX_BUILTINS: list[Any] = [{"type": "web_search", "external_web_access": True},
                             {"type": "tool_search", "execution": "client", "description": "Find tools.",
                              "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_responses_text_and_stream(gw: GatewayProcess, provider: str) -> None:
    client = _openai(gw)
    raw = client.responses.with_raw_response.create(model=MODELS[provider], instructions="Be brief.",
                                                    input="Say hello")
    resp = raw.parse()
    assert resp.status == "completed" and resp.output_text.strip()
    assert resp.usage is not None and resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    row = gw.row(raw.headers["lockgate-request-id"])
    assert row["api"] == "responses" and bool(row["translated"]) is (provider != "openai")
    events = list(client.responses.create(model=MODELS[provider], input="Say hello", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.output_text.delta" in types
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text.strip() and final.usage is not None and final.usage.output_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_responses_custom_tool_round_trip(gw: GatewayProcess, provider: str, stream: bool) -> None:
    """Codex's apply_patch: a freeform tool must come back as custom_tool_call with the raw patch (#2, #3, #14),
    with Codex's built-in tools offered alongside (left out for providers that lack them, never failing the turn)."""
    client = _openai(gw)
    tools: list[Any] = [PATCH_TOOL, *CODEX_BUILTINS]
    user = {"role": "user", "content": "apply patch: add hello.txt"}
    if stream:
        events = list(client.responses.create(model=MODELS[provider], input=[user], tools=tools, stream=True))
        assert events[-1].type == "response.completed"
        resp = events[-1].response  # type: ignore[union-attr]
        if provider != "openai":
            assert any(e.type == "response.custom_tool_call_input.delta" for e in events)
    else:
        raw = client.responses.with_raw_response.create(model=MODELS[provider], input=[user], tools=tools)
        resp = raw.parse()
        if provider != "openai":
            assert raw.headers["lockgate-dropped-tools"] == "web_search"  # tool_search became a function
            row = gw.row(raw.headers["lockgate-request-id"])
            assert orjson.loads(row["dropped_tools"]) == ["web_search"]
    calls = [o for o in resp.output if o.type == "custom_tool_call"]
    assert len(calls) == 1 and calls[0].name == "apply_patch"
    assert calls[0].input.startswith("*** Begin Patch") and not calls[0].input.startswith("{")
    follow = [user, calls[0].model_dump(exclude_none=True),
              {"type": "custom_tool_call_output", "call_id": calls[0].call_id, "output": "Success. Updated hello.txt"}]
    final = client.responses.create(model=MODELS[provider], input=follow, tools=tools)
    assert final.status == "completed" and final.output_text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_responses_function_tool_round_trip(gw: GatewayProcess, provider: str) -> None:
    client = _openai(gw)
    tools: list[Any] = [{"type": "function", "name": "get_weather", "description": "Weather.",
                         "parameters": WEATHER, "strict": False}]
    user = {"role": "user", "content": "call tool get_weather for Paris"}
    resp = client.responses.create(model=MODELS[provider], input=[user], tools=tools)
    calls = [o for o in resp.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert isinstance(orjson.loads(calls[0].arguments), dict)
    history = [user, *[o.model_dump(exclude_none=True) for o in resp.output],
               {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}]
    final = client.responses.create(model=MODELS[provider], input=history, tools=tools)
    assert final.status == "completed" and final.output_text


def test_strict_translation_refuses_builtins_by_name(gateway_factory: Callable[..., GatewayProcess],
                                                      gw: GatewayProcess, fakes: dict[str, Any]) -> None:
    config = gw.config_path.read_text() + "\n[translation]\nstrict = true\n"
    env = {k: v for k, v in gw.env.items() if k.startswith(("FAKE_", "AWS_"))}
    strict = gateway_factory(config=config, env=env)
    with pytest.raises(openai.BadRequestError) as exc:
        _openai(strict).responses.create(model=MODELS["anthropic"], input="hi", tools=[*CODEX_BUILTINS])
    assert "web_search" in str(exc.value) and "tool_search" not in str(exc.value)


@pytest.mark.parametrize("provider", ["anthropic", "chat-only", "gemini"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_responses_client_tool_search_is_offered_as_a_function(gw: GatewayProcess, fakes: dict[str, Any],
                                                               provider: str, stream: bool) -> None:
    """Codex's tool discovery on another provider: the model's search comes back as a tool_search_call item,
    and the tools its tool_search_output reveals are offered on the next turn."""
    client = _openai(gw)
    search: dict[str, Any] = {"type": "tool_search", "execution": "client", "description": "Find deferred tools.",
                              "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                                             "required": ["query"]}}
    user = {"role": "user", "content": "find a weather tool"}
    if stream:
        events = list(client.responses.create(model=MODELS[provider], input=[user], tools=[search], stream=True))
        assert events[-1].type == "response.completed"
        done_items = [e.item for e in events if e.type == "response.output_item.done"]  # type: ignore[union-attr]
        assert not any(e.type == "response.function_call_arguments.delta" for e in events)
        output = events[-1].response.output  # type: ignore[union-attr]
        assert [i.type for i in done_items] == [o.type for o in output]
    else:
        output = client.responses.create(model=MODELS[provider], input=[user], tools=[search]).output
    calls = [o for o in output if o.type == "tool_search_call"]
    assert len(calls) == 1 and calls[0].execution == "client" and isinstance(calls[0].arguments, dict)
    assert "query" in calls[0].arguments
    found = {"type": "tool_search_output", "call_id": calls[0].call_id, "execution": "client", "status": "completed",
             "tools": [{"type": "function", "name": "get_weather", "description": "Weather.", "parameters": WEATHER}]}
    final = client.responses.create(model=MODELS[provider], tools=[search],
                                    input=[user, calls[0].model_dump(exclude_none=True), found])
    assert final.status == "completed"
    sent = orjson.dumps(fakes[provider].requests[-1].json())
    assert b"get_weather" in sent and b"Tools now available" in sent


@pytest.mark.parametrize("provider", PROVIDERS)
def test_responses_image(gw: GatewayProcess, provider: str) -> None:
    resp = _openai(gw).responses.create(model=MODELS[provider], input=[{"role": "user", "content": [
        {"type": "input_text", "text": "What is in this image?"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"}]}])
    assert resp.status == "completed" and resp.output_text


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
          "required": ["city", "temp"], "additionalProperties": False}


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "bedrock", "chat-only"])
def test_chat_structured_output_reaches_every_provider(gw: GatewayProcess, fakes: dict[str, Any],
                                                       provider: str) -> None:
    done = _openai(gw).chat.completions.create(
        model=MODELS[provider], messages=[{"role": "user", "content": "weather as JSON"}],
        response_format={"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True}})
    assert done.choices[0].message.content is not None
    sent = orjson.dumps(fakes[provider].requests[-1].json())
    assert b"temp" in sent and b"city" in sent and b"additionalProperties" in sent  # in the provider's own form


def test_anthropic_headers_pass_through_to_anthropic(gw: GatewayProcess, fakes: dict[str, Any]) -> None:
    client = _anthropic(gw)
    client.messages.create(model=MODELS["anthropic"], max_tokens=32, messages=[{"role": "user", "content": "hi"}],
                           extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14",
                                          "anthropic-version": "2023-06-01"})
    sent = fakes["anthropic"].requests[-1]
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent.headers["anthropic-version"] == "2023-06-01"  # the client's, not a second copy of ours
    assert sent.headers["x-api-key"] == fakes["anthropic"].api_key and gw.key not in str(sent.headers)


def test_provider_errors_are_retold_in_the_callers_shape(gw: GatewayProcess) -> None:
    with pytest.raises(openai.InternalServerError) as oa:
        _openai(gw).chat.completions.create(model="claude-overloaded", messages=[{"role": "user", "content": "hi"}])
    assert oa.value.status_code == 503  # Anthropic's 529, in a status OpenAI's SDKs retry
    assert isinstance(oa.value.body, dict) and oa.value.body["code"] == "overloaded"
    with pytest.raises(anthropic.APIStatusError) as an:
        _anthropic(gw).messages.create(model="gem/fake-error-429", max_tokens=16,
                                       messages=[{"role": "user", "content": "hi"}])
    assert an.value.status_code == 429
    assert isinstance(an.value.body, dict) and an.value.body["error"]["type"] == "rate_limit_error"
    assert an.value.response.headers["retry-after"] == "21"  # Gemini's RetryInfo of 20.5 s
    with pytest.raises(openai.RateLimitError) as rl:
        _openai(gw).responses.create(model="gem/fake-error-429", input="hi")
    assert rl.value.response.headers["retry-after"] == "21" and rl.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_claude_thinking_round_trips_through_bedrock_invoke(gw: GatewayProcess, fakes: dict[str, Any],
                                                            stream: bool) -> None:
    """Claude Code on Claude-on-Bedrock: Anthropic's own body (InvokeModel), thinking signatures back byte for byte."""
    client = _anthropic(gw)
    model = MODELS["bedrock-invoke"]
    tools: list[Any] = [{"name": "get_weather", "description": "Weather.", "input_schema": WEATHER}]
    ask: list[Any] = [{"role": "user", "content": "call tool get_weather for Paris"}]
    kwargs: dict[str, Any] = {"model": model, "max_tokens": 4096, "tools": tools,
                              "thinking": {"type": "enabled", "budget_tokens": 1024}}
    if stream:
        with client.messages.stream(messages=ask, **kwargs) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(messages=ask, **kwargs)
    assert first.content[0].type == "thinking" and first.stop_reason == "tool_use"
    sent = fakes["bedrock"].requests[-1]
    assert sent.path.endswith("/invoke-with-response-stream" if stream else "/invoke")
    body = sent.json()
    assert body["anthropic_version"] == "bedrock-2023-05-31" and "model" not in body and "stream" not in body
    use = next(b for b in first.content if b.type == "tool_use")
    history = [*ask, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]}]
    # The fake rejects a thinking block whose signature it did not make, as Bedrock does.
    final = client.messages.create(messages=history, **kwargs)
    assert final.stop_reason == "end_turn"
    thinking = next(b for b in fakes["bedrock"].requests[-1].json()["messages"][1]["content"]
                    if b["type"] == "thinking")
    assert thinking["signature"] == anthropic_fake.sign_thinking(thinking["thinking"])


CHAT_PATCH_TOOL: dict[str, Any] = {"type": "custom", "custom": {
    "name": "apply_patch", "description": "Edit files with a patch.",
    "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": 'start: "*** Begin Patch" /.+/'}}}}


# The chat-only host speaks chat natively, so a chat client's request passes through to it
# unchanged, and that host (like DeepSeek or vLLM) refuses custom tools itself.
TRANSLATED_FOR_CHAT = [p for p in PROVIDERS if p != "chat-only"]


@pytest.mark.parametrize("provider", TRANSLATED_FOR_CHAT)
def test_chat_custom_tool(gw: GatewayProcess, provider: str) -> None:
    """OpenAI's chat API has custom (freeform) tools too: the call comes back as a custom call with the raw input."""
    client = _openai(gw)
    messages: list[Any] = [{"role": "user", "content": "apply patch: add hello.txt"}]
    done = client.chat.completions.create(model=MODELS[provider], messages=messages, tools=[CHAT_PATCH_TOOL])
    calls = done.choices[0].message.tool_calls or []
    assert done.choices[0].finish_reason == "tool_calls" and len(calls) == 1
    call = calls[0]
    assert call.type == "custom" and call.custom.name == "apply_patch"  # type: ignore[union-attr]
    assert call.custom.input.startswith("*** Begin Patch")  # type: ignore[union-attr]
    messages += [{"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
                 {"role": "tool", "tool_call_id": call.id, "content": "Success"}]
    final = client.chat.completions.create(model=MODELS[provider], messages=messages, tools=[CHAT_PATCH_TOOL])
    assert final.choices[0].finish_reason == "stop" and final.choices[0].message.content


@pytest.mark.parametrize("provider", [p for p in TRANSLATED_FOR_CHAT if p != "openai"])
def test_chat_custom_tool_streamed(gw: GatewayProcess, provider: str) -> None:
    with _openai(gw).chat.completions.with_streaming_response.create(
            model=MODELS[provider], messages=[{"role": "user", "content": "apply patch: add hello.txt"}],
            tools=[CHAT_PATCH_TOOL], stream=True) as r:
        chunks = [orjson.loads(data) for _, data in sse_events(r.read()) if data != b"[DONE]"]
    deltas = [tc for c in chunks for ch in c["choices"] for tc in ch["delta"].get("tool_calls") or []]
    assert deltas and deltas[0]["type"] == "custom" and deltas[0]["custom"]["name"] == "apply_patch"
    raw = "".join(tc.get("custom", {}).get("input", "") for tc in deltas)
    assert raw.startswith("*** Begin Patch") and [ch["finish_reason"] for c in chunks for ch in c["choices"]
                                                  if ch["finish_reason"]] == ["tool_calls"]


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_messages_accepts_the_gateway_key_as_x_api_key(gw: GatewayProcess, provider: str) -> None:
    """Claude Code sends its key as x-api-key (ANTHROPIC_API_KEY); the SDK's newer versions as a Bearer token."""
    body = {"model": MODELS[provider], "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{gw.root}/v1/messages", json=body, timeout=20,
                   headers={"x-api-key": gw.key, "anthropic-version": "2023-06-01"})
    assert r.status_code == 200 and r.json()["type"] == "message"
    r = httpx.post(f"{gw.root}/v1/messages", json=body, timeout=20,
                   headers={"x-api-key": "lg-wrong", "anthropic-version": "2023-06-01"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def test_context_overflow_reaches_codex_as_context_length_exceeded(gw: GatewayProcess) -> None:
    """Streamed (how Codex asks): a response.failed event with context_length_exceeded, which makes Codex compact;
    not streamed: a 400 with the same code."""
    events = list(_openai(gw).responses.create(model="claude-too-long", input="hi", stream=True))
    assert [e.type for e in events][-1] == "response.failed"
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.error is not None and failed.error.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as exc:
        _openai(gw).responses.create(model="claude-too-long", input="hi")
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "context_length_exceeded"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_usage_is_estimated_and_marked_when_the_provider_sends_none(gw: GatewayProcess, stream: bool) -> None:
    """Agents budget their context by usage (Codex compacts on it): a provider that reports none
    still gets real-looking numbers, said to be estimates in the answer and in the log row."""
    raw = _openai(gw).responses.with_raw_response.create(model="local-qwen3-nousage", stream=stream,
                                                         input="please count the words of this question")
    if stream:
        events = list(raw.parse())
        assert events[-1].type == "response.completed"
        usage = events[-1].response.usage
    else:
        assert raw.headers["lockgate-usage"] == "estimated"
        usage = raw.parse().usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    row = gw.row(raw.headers["lockgate-request-id"])
    assert bool(row["usage_estimated"]) and row["input_tokens"] == usage.input_tokens
    real = _openai(gw).responses.with_raw_response.create(model="local-qwen3", input="the same, with usage")
    assert "lockgate-usage" not in real.headers
    assert not gw.row(real.headers["lockgate-request-id"])["usage_estimated"]
