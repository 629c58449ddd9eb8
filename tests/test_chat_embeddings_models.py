"""Chat Completions, Embeddings and Models through the gateway, with the openai SDK."""

from __future__ import annotations

import httpx
import openai
import orjson

from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_proc import GatewayProcess

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi chat"}]


def _chat_raw(url: str, key: str, body: dict[str, object]) -> httpx.Response:
    with httpx.Client(timeout=10) as c:
        return c.post(f"{url}/chat/completions", content=orjson.dumps(body),
                      headers={"authorization": f"Bearer {key}"})


def test_chat_non_stream_equals_direct(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    via = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    direct = openai.OpenAI(base_url=fake.url, api_key=fake.api_key, max_retries=0)
    raw = via.chat.completions.with_raw_response.create(model="gpt-5", messages=MESSAGES)  # type: ignore[arg-type]
    got = raw.parse()
    want = direct.chat.completions.create(model="gpt-5", messages=MESSAGES)  # type: ignore[arg-type]
    assert got.model_dump() == want.model_dump()
    assert got.choices[0].message.content == "Hello from fake: hi chat"
    row = gateway.row(raw.headers["lockgate-request-id"])
    assert row["api"] == "chat" and row["status"] == 200
    assert want.usage is not None
    assert (row["input_tokens"], row["output_tokens"]) == (want.usage.prompt_tokens, want.usage.completion_tokens)


def test_chat_stream_usage_is_logged_but_not_shown_unasked(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    body = {"model": "gpt-5", "messages": MESSAGES, "stream": True}
    direct = _chat_raw(fake.url, fake.api_key, body)
    via = _chat_raw(gateway.url, gateway.key, body)
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}
    assert via.content == direct.content  # the extra usage chunk was stripped again
    assert b'"usage"' not in via.content and via.content.endswith(b"data: [DONE]\n\n")
    row = gateway.row(via.headers["lockgate-request-id"])
    assert row["stream"] and row["input_tokens"] and row["output_tokens"] and row["ttft_ms"] is not None


def test_chat_stream_with_usage_asked(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    body = {"model": "gpt-5", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    direct = _chat_raw(fake.url, fake.api_key, body)
    via = _chat_raw(gateway.url, gateway.key, body)
    assert via.content == direct.content and b'"usage":{' in via.content
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    chunks = list(client.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True,  # type: ignore[arg-type]
                                                 stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from fake: hi chat"


def test_chat_stream_sdk_sees_same_text(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    stream = client.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from fake: hi chat"


def test_chat_stream_options_without_include_usage(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    body = {"model": "gpt-5", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": False}}
    via = _chat_raw(gateway.url, gateway.key, body)
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}
    assert b'"usage"' not in via.content
    assert gateway.row(via.headers["lockgate-request-id"])["output_tokens"]


async def test_async_chat_and_embeddings(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    direct = openai.AsyncOpenAI(base_url=fake.url, api_key=fake.api_key, max_retries=0)
    chat = await client.chat.completions.create(model="gpt-5", messages=MESSAGES)  # type: ignore[arg-type]
    assert chat.choices[0].message.content == "Hello from fake: hi chat"
    emb = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    want = await direct.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert [d.embedding for d in emb.data] == [d.embedding for d in want.data]
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0
    await client.close()
    await direct.close()


def test_embeddings_logged_with_usage(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello world")
    emb = raw.parse()
    row = gateway.row(raw.headers["lockgate-request-id"])
    assert row["api"] == "embeddings" and row["input_tokens"] == emb.usage.prompt_tokens


def test_models_lists_what_the_config_routes(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    ids = {m.id: m.owned_by for m in client.models.list()}
    assert ids == {"fast": "lockgate"}
    assert client.models.retrieve("fast").id == "fast"
    assert client.models.retrieve("gpt-5").owned_by == "openai"
    try:
        client.models.retrieve("no-such-model")
        raise AssertionError("expected 404")
    except openai.NotFoundError as exc:
        assert exc.code == "model_not_found"
