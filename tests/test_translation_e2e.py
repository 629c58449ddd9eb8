"""Any inbound API to any provider, through a real lockgate process, with the official SDKs as clients.

The upstreams are protocol-true fakes (tests/fakes/) that validate requests the way the
real APIs do, so a translation that sends something the provider would reject fails here.
Each provider is reached by a model-name pattern: `gpt-*` OpenAI (Responses and chat
native), `claude-*` Anthropic, `gemini-*` Gemini, `local-*` a chat-only compatible host,
`bedrock-*` Bedrock Converse.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.bedrock_upstream import FakeBedrock
from tests.fakes.chat_upstream import FakeChatHost
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_proc import GatewayProcess

MODELS = {"openai": "gpt-5-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash",
          "chat-only": "local-qwen3", "bedrock": "bedrock-claude"}
PROVIDERS = list(MODELS)
# A 1x1 PNG: images must survive every path.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a4e5e7a40000000049454e44ae426082")).decode()
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    with FakeAnthropic() as a, FakeGemini() as g, FakeChatHost() as c, FakeBedrock() as b:
        yield {"anthropic": a, "gemini": g, "chat-only": c, "bedrock": b}


@pytest.fixture(scope="module")
def gw(gateway_factory: Callable[..., GatewayProcess], fake: FakeOpenAI, fakes: dict[str, Any]) -> GatewayProcess:
    b = fakes["bedrock"]
    config = f"""
[log]
flush_interval = 0.05

[upstream]
connect_timeout = 2
read_timeout = 10

[providers.openai]
base_url = "{fake.url}"
api_key_env = "FAKE_OPENAI_KEY"
apis = ["responses", "chat", "embeddings"]
models = ["gpt-*"]

[providers.claude]
type = "anthropic"
base_url = "{fakes['anthropic'].url}"
api_key_env = "FAKE_ANTHROPIC_KEY"
models = ["claude-*"]

[providers.gem]
type = "gemini"
base_url = "{fakes['gemini'].base_url}"
apis = ["gemini"]
api_key_env = "FAKE_GEMINI_KEY"
models = ["gemini-*"]

[providers.local]
base_url = "{fakes['chat-only'].url}"
apis = ["chat"]
api_key_env = "FAKE_CHAT_KEY"
models = ["local-*"]

[providers.bedrock]
type = "bedrock"
base_url = "{b.url}"
apis = ["converse"]
models = ["bedrock-*"]
"""
    env = {"FAKE_OPENAI_KEY": UPSTREAM_KEY, "FAKE_ANTHROPIC_KEY": fakes["anthropic"].api_key,
           "FAKE_GEMINI_KEY": fakes["gemini"].api_key, "FAKE_CHAT_KEY": fakes["chat-only"].api_key,
           "AWS_ACCESS_KEY_ID": b.access_key, "AWS_SECRET_ACCESS_KEY": b.secret_key, "AWS_REGION": b.region}
    return gateway_factory(config=config, env=env)


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
                                       "gemini": "gemini", "bedrock": "converse"}[provider]


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
