"""Bedrock provider: URLs, credentials, SigV4 (against AWS's vectors and the fake's own verifier), and
full Converse / ConverseStream exchanges with the fake Bedrock runtime."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import botocore.auth
import botocore.session
import httpx
import orjson
import pytest
from botocore.config import Config

from lockgate import ir
from lockgate.config import ProviderSettings
from lockgate.errors import UpstreamError
from lockgate.formats.bedrock_converse import FORMAT
from lockgate.providers import bedrock as bedrock_mod
from lockgate.providers.bedrock import BedrockProvider
from tests.fakes.bedrock_upstream import FakeBedrock, sigv4_signature

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
VECTOR_KEY, VECTOR_SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOOL = ir.Tool("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}},
                                                     "required": ["city"]})


def settings(base_url: str = "", **kw: Any) -> ProviderSettings:
    return ProviderSettings.model_construct(base_url=base_url, apis=("converse",), headers=kw.get("headers", {}))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrock]:
    with FakeBedrock(session_token="fake-session", bearer_token="ABSK-fake-bedrock-key") as f:
        yield f


def provider(fake: FakeBedrock, **env: str) -> BedrockProvider:
    base = {"AWS_ACCESS_KEY_ID": fake.access_key, "AWS_SECRET_ACCESS_KEY": fake.secret_key,
            "AWS_SESSION_TOKEN": "fake-session", "AWS_REGION": fake.region}
    return BedrockProvider("bedrock", settings(fake.url), None, env={**base, **env})


def post(p: BedrockProvider, req: ir.Request, *, stream: bool = False, model: str = MODEL) -> httpx.Response:
    url = p.request_url("converse", model, stream)
    body = orjson.dumps(FORMAT.encode_request(req))
    headers = p.sign("POST", url, [("content-type", "application/json")], body)
    return httpx.post(url, content=body, headers=headers, timeout=10)


def stream_events(resp: httpx.Response) -> list[ir.StreamEvent]:
    assert resp.headers["content-type"] == FORMAT.stream_content_type
    reader, decoder = FORMAT.stream_reader(), FORMAT.stream_decoder()
    out: list[ir.StreamEvent] = []
    for chunk in resp.iter_bytes(37):
        for name, payload in reader.feed(chunk):
            out += decoder.feed(name, payload)
    for name, payload in reader.close():
        out += decoder.feed(name, payload)
    return out + decoder.close()


def user(text: str) -> ir.Message:
    return ir.Message("user", [ir.Text(text)])


# -- URLs and credentials --------------------------------------------------------------------------

def test_urls_quote_model_ids_and_arns() -> None:
    p = BedrockProvider("b", settings(), None, env={"AWS_DEFAULT_REGION": "eu-central-1"})
    assert p.request_url("converse", "anthropic.claude-3-haiku-20240307-v1:0", False) == (
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
    arn = "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude"
    assert p.request_url("converse", arn, True).endswith(
        "/model/arn%3Aaws%3Abedrock%3Aeu-central-1%3A123456789012%3Ainference-profile%2Feu.anthropic.claude"
        "/converse-stream")


def test_region_comes_from_an_aws_base_url_first() -> None:
    p = BedrockProvider("b", settings("https://bedrock-runtime.ap-south-1.amazonaws.com/"), None,
                        env={"AWS_REGION": "us-west-2"})
    assert p.region == "ap-south-1" and p.url("/x") == "https://bedrock-runtime.ap-south-1.amazonaws.com/x"
    assert BedrockProvider("b", settings(), None, env={}).region == "us-east-1"


def test_sigv4_has_no_static_auth_headers_and_bearer_does() -> None:
    env = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    assert BedrockProvider("b", settings(), None, env=env).auth_headers() == []
    keyed = BedrockProvider("b", settings(), None, env={**env, "AWS_BEARER_TOKEN_BEDROCK": "ABSK-x"})
    assert keyed.auth_headers() == [("authorization", "Bearer ABSK-x")] and not keyed.uses_sigv4
    assert keyed.sign("POST", "https://h/x", [("content-type", "application/json")], b"{}") == [
        ("content-type", "application/json"), ("authorization", "Bearer ABSK-x")]


def test_missing_credentials_is_a_clear_error() -> None:
    with pytest.raises(UpstreamError, match="no AWS credentials"):
        BedrockProvider("b", settings(), None, env={}).sign("POST", "https://h/x", [], b"")


# -- SigV4 -----------------------------------------------------------------------------------------

@pytest.fixture
def vector_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: dt.datetime(2015, 8, 30, 12, 36))


# AWS's published SigV4 test suite: get-vanilla and get-vanilla-query-order-key-case.
VECTORS = [("https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
           ("https://example.amazonaws.com/?Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")]


@pytest.mark.parametrize(("url", "signature"), VECTORS)
def test_provider_signer_reproduces_aws_vectors(url: str, signature: str, vector_clock: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bedrock_mod, "SERVICE", "service")
    p = BedrockProvider("b", settings("https://example.amazonaws.com"), None,
                        env={"AWS_ACCESS_KEY_ID": VECTOR_KEY, "AWS_SECRET_ACCESS_KEY": VECTOR_SECRET})
    headers = dict(p.sign("GET", url, [], b""))
    assert headers["x-amz-date"] == "20150830T123600Z"
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}")


@pytest.mark.parametrize(("url", "signature"), VECTORS)
def test_fake_verifier_reproduces_aws_vectors(url: str, signature: str) -> None:
    path, _, query = url.removeprefix("https://example.amazonaws.com").partition("?")
    got = sigv4_signature(VECTOR_SECRET, "GET", path, query, {"host": "example.amazonaws.com",
                          "x-amz-date": "20150830T123600Z"}, ["host", "x-amz-date"], b"", "20150830T123600Z",
                          "us-east-1", "service")
    assert got == signature


def test_signed_request_is_accepted_with_session_token(fake: FakeBedrock) -> None:
    resp = post(provider(fake), ir.Request(model=MODEL, messages=[user("hi")]))
    assert resp.status_code == 200, resp.text
    sent = fake.requests[-1].headers
    assert sent["x-amz-security-token"] == "fake-session"
    assert "x-amz-security-token" in sent["authorization"].split("SignedHeaders=")[1]
    assert sent["host"].startswith("127.0.0.1:")


@pytest.mark.parametrize(("env", "error"), [
    ({"AWS_SECRET_ACCESS_KEY": "wrong"}, "InvalidSignatureException"),
    ({"AWS_ACCESS_KEY_ID": "AKIDUNKNOWN"}, "UnrecognizedClientException"),
    ({"AWS_SESSION_TOKEN": "stale"}, "UnrecognizedClientException"),
    ({"AWS_REGION": "eu-west-1"}, "InvalidSignatureException"),
])
def test_bad_credentials_get_bedrock_403(fake: FakeBedrock, env: dict[str, str], error: str) -> None:
    resp = post(provider(fake, **env), ir.Request(model=MODEL, messages=[user("hi")]))
    assert resp.status_code == 403
    assert resp.headers["x-amzn-errortype"].split(":")[0] == error
    assert set(resp.json()) == {"message"}


def test_body_changed_after_signing_is_rejected(fake: FakeBedrock) -> None:
    p = provider(fake)
    url = p.request_url("converse", MODEL, False)
    body = orjson.dumps(FORMAT.encode_request(ir.Request(model=MODEL, messages=[user("hi")])))
    headers = p.sign("POST", url, [("content-type", "application/json")], body)
    resp = httpx.post(url, content=body.replace(b"hi", b"ho"), headers=headers)
    assert resp.status_code == 403 and resp.headers["x-amzn-errortype"].startswith("InvalidSignatureException")


def test_bedrock_api_key_as_bearer(fake: FakeBedrock) -> None:
    p = BedrockProvider("b", settings(fake.url), None, env={"AWS_BEARER_TOKEN_BEDROCK": "ABSK-fake-bedrock-key"})
    assert post(p, ir.Request(model=MODEL, messages=[user("hi")])).status_code == 200
    wrong = BedrockProvider("b", settings(fake.url), "ABSK-wrong", env={})
    assert post(wrong, ir.Request(model=MODEL, messages=[user("hi")])).status_code == 403


# -- Converse exchanges ---------------------------------------------------------------------------------

def test_converse_text(fake: FakeBedrock) -> None:
    resp = post(provider(fake), ir.Request(model=MODEL, messages=[user("hello there")]))
    out = FORMAT.decode_response(resp.json())
    assert out.content == [ir.Text("Echo: hello there")] and out.finish_reason == "stop"
    assert out.usage is not None and out.usage.input_tokens > 0 and out.usage.output_tokens > 0


def test_agent_loop_with_thinking_round_trips_signature(fake: FakeBedrock) -> None:
    # Turn 1: thinking + text + toolUse. Turn 2 sends all of it back with the result: the fake checks
    # the reasoning signature byte for byte and the toolResult pairing.
    p = provider(fake)
    req = ir.Request(model=MODEL, messages=[user("weather in Paris?")], tools=[TOOL], thinking_budget=1024)
    first = FORMAT.decode_response(post(p, req).json())
    assert [type(x) for x in first.content] == [ir.Reasoning, ir.Text, ir.ToolCall]
    assert first.finish_reason == "tool_calls"
    call = first.content[2]
    assert isinstance(call, ir.ToolCall) and orjson.loads(call.arguments) == {"city": "fake"}
    req.messages += [ir.Message("assistant", first.content),
                     ir.Message("tool", [ir.ToolResult(call.call_id, "18°C and sunny")])]
    resp = post(p, req)
    assert resp.status_code == 200, resp.text
    second = FORMAT.decode_response(resp.json())
    assert second.content[-1] == ir.Text(f"Tool results: {call.call_id}=18°C and sunny")


def test_tampered_reasoning_is_rejected_like_bedrock(fake: FakeBedrock) -> None:
    req = ir.Request(model=MODEL, messages=[
        user("q"), ir.Message("assistant", [ir.Reasoning(text="t", signature="forged", source="bedrock_converse"),
                                            ir.Text("a")]), user("again")])
    resp = post(provider(fake), req)
    assert resp.status_code == 400 and "signature" in resp.json()["message"]


def test_fake_validates_pairing_like_bedrock(fake: FakeBedrock) -> None:
    p = provider(fake)
    url = p.request_url("converse", MODEL, False)

    def send(body: dict[str, Any]) -> httpx.Response:
        raw = orjson.dumps(body)
        return httpx.post(url, content=raw, headers=p.sign("POST", url, [], raw))

    use = {"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}
    tools = {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]}
    cases = {
        "alternate": {"messages": [{"role": "user", "content": [{"text": "a"}]},
                                   {"role": "user", "content": [{"text": "b"}]}]},
        "Expected toolResult blocks": {"messages": [{"role": "user", "content": [{"text": "a"}]},
                                                    {"role": "assistant", "content": [use]},
                                                    {"role": "user", "content": [{"text": "b"}]}], "toolConfig": tools},
        "toolConfig field must be defined": {"messages": [
            {"role": "user", "content": [{"text": "a"}]}, {"role": "assistant", "content": [use]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": []}}]}]},
        "is blank": {"messages": [{"role": "user", "content": [{"text": " "}]}]},
        "is empty": {"messages": [{"role": "user", "content": []}]},
    }
    for needle, body in cases.items():
        resp = send(body)
        assert resp.status_code == 400 and needle in resp.json()["message"], (needle, resp.text)
        assert resp.headers["x-amzn-errortype"].startswith("ValidationException")


@pytest.mark.parametrize(("status", "error"), [(429, "ThrottlingException"), (400, "ValidationException"),
                                               (503, "ServiceUnavailableException")])
def test_fake_errors(fake: FakeBedrock, status: int, error: str) -> None:
    resp = post(provider(fake), ir.Request(model="m", messages=[user("x")]), model=f"fake-error-{status}")
    assert resp.status_code == status and resp.headers["x-amzn-errortype"].startswith(error)


# -- ConverseStream ---------------------------------------------------------------------------------------

def test_stream_tool_use_matches_non_streamed_answer(fake: FakeBedrock) -> None:
    p = provider(fake)
    req = ir.Request(model=MODEL, messages=[user("weather?")], tools=[TOOL], thinking_budget=1024)
    whole = FORMAT.decode_response(post(p, req).json())
    with httpx.stream("POST", p.request_url("converse", MODEL, True), timeout=10,
                      content=(body := orjson.dumps(FORMAT.encode_request(req))),
                      headers=p.sign("POST", p.request_url("converse", MODEL, True), [], body)) as resp:
        assert resp.status_code == 200
        events = stream_events(resp)
    assert isinstance(events[0], ir.StreamStart)
    ends = [e.part for e in events if isinstance(e, ir.StreamPartEnd)]
    assert ends == whole.content
    finish = events[-1]
    assert isinstance(finish, ir.StreamFinish) and finish.finish_reason == "tool_calls"
    assert finish.usage == whole.usage


def test_stream_mid_stream_model_error(fake: FakeBedrock) -> None:
    p = provider(fake)
    url = p.request_url("converse", "fake-error-424", True)
    body = orjson.dumps(FORMAT.encode_request(ir.Request(model="m", messages=[user("hello")])))
    with httpx.stream("POST", url, content=body, headers=p.sign("POST", url, [], body)) as resp:
        assert resp.status_code == 200
        events = stream_events(resp)
    assert any(isinstance(e, ir.StreamPartDelta) for e in events)
    assert events[-1] == ir.StreamError("Model stream failed", code="modelStreamErrorException", status=424)


def test_stream_http_error_before_stream(fake: FakeBedrock) -> None:
    p = provider(fake)
    url = p.request_url("converse", "fake-error-429", True)
    body = orjson.dumps(FORMAT.encode_request(ir.Request(model="m", messages=[user("x")])))
    resp = httpx.post(url, content=body, headers=p.sign("POST", url, [], body))
    assert resp.status_code == 429 and resp.json() == {"message": "fake error 429"}


# -- the real AWS client against the fake (its serializer, signer and event-stream parser) ------------------

def test_botocore_client_against_fake(fake: FakeBedrock) -> None:
    client = botocore.session.get_session().create_client(
        "bedrock-runtime", endpoint_url=fake.url, region_name=fake.region, aws_access_key_id=fake.access_key,
        aws_secret_access_key=fake.secret_key, aws_session_token="fake-session",
        config=Config(retries={"max_attempts": 1}))
    body = FORMAT.encode_request(ir.Request(model=MODEL, messages=[user("weather?")], tools=[TOOL]))
    out = client.converse(modelId=MODEL, **body)
    assert out["stopReason"] == "tool_use"
    decoded = FORMAT.decode_response({k: v for k, v in out.items() if k != "ResponseMetadata"})
    assert [type(x) for x in decoded.content] == [ir.Text, ir.ToolCall]
    streamed = client.converse_stream(modelId=MODEL, **body)
    kinds = [next(iter(ev)) for ev in streamed["stream"]]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    assert "contentBlockStart" in kinds
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId="fake-error-429", **body)
    broken = client.converse_stream(modelId="fake-error-424", **body)
    with pytest.raises(Exception, match="modelStreamErrorException"):
        list(broken["stream"])
