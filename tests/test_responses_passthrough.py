"""POST /v1/responses through the gateway with the official openai SDK and raw HTTP."""

from __future__ import annotations

import time

import httpx
import openai
import orjson
import pytest

from tests.fakes.openai_upstream import FakeOpenAI, sse_events
from tests.gateway_proc import GatewayProcess

CODEX_LIKE = {
    "model": "gpt-5",
    "stream": True,
    "instructions": "You are a coding agent.",
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be brief"}]},
        {"type": "reasoning", "id": "rs_0001", "summary": [],
         "encrypted_content": "gAAAAABo-opaque+/=base64==", "unknown_reasoning_field": {"k": [1, 2.50, True]}},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi \u00e9\u4e2d"}]},
    ],
    "tools": [
        {"type": "function", "name": "exec_command", "description": "run",
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}, "strict": False},
        {"type": "custom", "name": "apply_patch", "description": "patch",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
        {"type": "web_search"},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "01a205b4-fb17-73a2-9885-c566ed57b5c6",
    "client_metadata": {"x-codex-ws-stream-request-start-ms": "1763000000000"},
}


def _codex_body() -> bytes:
    # Hand-written JSON keeps number spellings that a decode/encode would change.
    raw = orjson.dumps(CODEX_LIKE)
    return raw[:-1] + rb', "a_field_nobody_knows" : {"nested": [12345678901234567890123, 1.0E+2, "caf\u00e9"]}}'


def _post_raw(url: str, key: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(timeout=10) as c:
        return c.post(f"{url}/responses", content=body, headers={"authorization": f"Bearer {key}",
                                                                 "content-type": "application/json",
                                                                 **(headers or {})})


def test_stream_bytes_equal_direct_and_body_forwarded_unchanged(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    body = _codex_body()
    direct = _post_raw(fake.url, fake.api_key, body)
    fake_body_direct = fake.requests[-1].body
    via = _post_raw(gateway.url, gateway.key, body)
    forwarded = fake.requests[-1]
    assert via.status_code == 200 and direct.status_code == 200
    assert via.content == direct.content
    assert forwarded.body == body == fake_body_direct
    assert forwarded.headers["authorization"] == f"Bearer {fake.api_key}"
    names = [name for name, _ in sse_events(via.content)]
    assert "response.fake_unknown_event" in names
    assert names[-1] == "response.completed"
    assert via.headers["content-type"].startswith("text/event-stream")
    row = gateway.row(via.headers["lockgate-request-id"])
    completed = orjson.loads(sse_events(via.content)[-1][1])["response"]
    assert row["stream"] and row["status"] == 200 and row["provider"] == "openai"
    assert row["input_tokens"] == completed["usage"]["input_tokens"]
    assert row["output_tokens"] == completed["usage"]["output_tokens"]
    assert row["reasoning_tokens"] == completed["usage"]["output_tokens_details"]["reasoning_tokens"]
    assert row["cached_input_tokens"] == completed["usage"]["input_tokens_details"]["cached_tokens"]
    assert row["response_id"] == completed["id"]
    assert row["ttft_ms"] is not None and row["ttfb_ms"] is not None


def test_encrypted_reasoning_round_trips(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    first = client.responses.create(model="gpt-5", input="think about it", reasoning={"effort": "low"},
                                    include=["reasoning.encrypted_content"], store=False)
    reasoning = [item for item in first.output if item.type == "reasoning"]
    assert reasoning and reasoning[0].encrypted_content
    follow_up = [*[item.model_dump(exclude_none=True) for item in first.output],
                 {"role": "user", "content": "and then?"}]
    client.responses.create(model="gpt-5", input=follow_up, reasoning={"effort": "low"}, store=False)
    sent = fake.requests[-1].json()["input"]
    assert sent[0]["encrypted_content"] == reasoning[0].encrypted_content
    assert sent[0]["id"] == reasoning[0].id


def test_sdk_non_stream_equals_direct(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    via = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    direct = openai.OpenAI(base_url=fake.url, api_key=fake.api_key, max_retries=0)
    raw = via.responses.with_raw_response.create(model="gpt-5", input="hello there")
    got = raw.parse()
    want = direct.responses.create(model="gpt-5", input="hello there")
    assert got.model_dump() == want.model_dump()
    assert got.output_text == "Hello from fake: hello there"
    row = gateway.row(raw.headers["lockgate-request-id"])
    assert not row["stream"] and row["api"] == "responses" and row["status"] == 200
    assert row["input_tokens"] == want.usage.input_tokens if want.usage else False
    assert row["model_requested"] == "gpt-5" and row["model_resolved"] == "gpt-5"


def test_sdk_stream_accumulator_matches_direct(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    via = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    direct = openai.OpenAI(base_url=fake.url, api_key=fake.api_key, max_retries=0)
    finals = []
    for client in (via, direct):
        with client.responses.stream(model="gpt-5", input="stream me please") as stream:
            deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
            finals.append((stream.get_final_response(), "".join(deltas)))
    assert finals[0][0].model_dump() == finals[1][0].model_dump()
    assert finals[0][1] == finals[1][1] == "Hello from fake: stream me please"


async def test_async_sdk_create_and_stream(gateway: GatewayProcess) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    resp = await client.responses.create(model="gpt-5", input="async hi")
    assert resp.output_text == "Hello from fake: async hi"
    events = [e async for e in await client.responses.create(model="gpt-5", input="async stream", stream=True)]
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    await client.close()


def test_tool_calls_and_custom_tools_pass(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    tools = [{"type": "custom", "name": "apply_patch", "description": "edit files"}]
    resp = client.responses.create(model="gpt-5", input="please apply patch", tools=tools)  # type: ignore[arg-type]
    calls = [o for o in resp.output if o.type == "custom_tool_call"]
    assert calls and isinstance(calls[0].input, str) and calls[0].name == "apply_patch"


def test_model_rewrite_splices_only_the_model(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    body = _codex_body().replace(b'"model":"gpt-5"', b'"model":"openai/gpt-5"', 1)
    body = body.replace(b'"store":false', b'"store":false,"metadata":{"model":"openai/gpt-5"}', 1)
    via = _post_raw(gateway.url, gateway.key, body)
    assert via.status_code == 200
    sent = fake.requests[-1].body
    assert sent == body.replace(b'"model":"openai/gpt-5"', b'"model":"gpt-5"', 1)
    assert b'"metadata":{"model":"openai/gpt-5"}' in sent
    for model in ("gpt-5/openai", "fast"):
        r = _post_raw(gateway.url, gateway.key, orjson.dumps({"model": model, "input": "x"}))
        assert r.status_code == 200, r.text
    assert fake.requests[-2].json()["model"] == "gpt-5"
    assert fake.requests[-1].json()["model"] == "gpt-5-mini"
    row = gateway.row(r.headers["lockgate-request-id"])
    assert (row["model_requested"], row["model_resolved"]) == ("fast", "gpt-5-mini")


def test_response_subresources_go_to_the_serving_provider(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    created = client.responses.create(model="gpt-5", input="keep me", store=True)
    got = client.responses.retrieve(created.id)
    assert got.id == created.id and got.output_text == created.output_text
    items = client.responses.input_items.list(created.id)
    assert items.data
    cancelled = client.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    client.responses.delete(created.id)
    assert fake.requests[-1].method == "DELETE" and fake.requests[-1].path == f"/v1/responses/{created.id}"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_does_not_exist")


def test_sse_is_flushed_event_by_event(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    fake.stream_delay = 0.15
    try:
        arrivals: list[float] = []
        t0 = time.monotonic()
        body = orjson.dumps({"model": "gpt-5", "input": "one two three four five six seven", "stream": True})
        with httpx.Client(timeout=20) as c, c.stream(
                "POST", f"{gateway.url}/responses", content=body,
                headers={"authorization": f"Bearer {gateway.key}"}) as r:
            for _ in r.iter_raw():
                arrivals.append(time.monotonic() - t0)
    finally:
        fake.stream_delay = 0.0
    total = arrivals[-1]
    assert total > 1.0
    assert arrivals[0] < 0.5  # the first event did not wait for the rest of the stream
    assert len(arrivals) >= 8
