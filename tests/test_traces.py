"""OpenTelemetry spans exported over OTLP/HTTP to a local receiver, one per request."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import openai
import orjson
import pytest

from lockgate.config import ProviderSettings
from lockgate.observe.traces import provider_semconv_name, traces_url
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.otlp_receiver import OtlpReceiver
from tests.gateway_proc import GatewayProcess

SPAN_KIND_CLIENT = 3
STATUS_ERROR = 2


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def traced(gateway_factory: Callable[..., GatewayProcess], receiver: OtlpReceiver) -> GatewayProcess:
    extra = f"""
[telemetry]
otlp_endpoint = "{receiver.url}"
service_name = "lockgate-test"
otlp_headers = {{ "x-collector-token" = "t0ken" }}
"""
    # The SDK's batch processor exports every 5 s by default; the env var is the SDK's own.
    return gateway_factory(extra, env={"OTEL_BSP_SCHEDULE_DELAY": "100"})


def test_streamed_chat_span(traced: GatewayProcess, receiver: OtlpReceiver) -> None:
    client = openai.OpenAI(base_url=traced.url, api_key=traced.key, max_retries=0)
    with client.chat.completions.with_streaming_response.create(
            model="fast", messages=[{"role": "user", "content": "trace me"}], stream=True,
            extra_headers={"Helicone-Session-Id": "sess-42", "Helicone-Session-Path": "/plan/a",
                           "Helicone-User-Id": "bob", "Helicone-Property-Team": "infra"}) as s:
        lines = list(s.iter_lines())
        rid = s.headers["lockgate-request-id"]
    assert any("chatcmpl" in line for line in lines)
    row = traced.row(rid)
    span = receiver.span_for(rid)

    assert span.name == "chat gpt-5-mini"
    assert span.kind == SPAN_KIND_CLIENT
    assert span.scope == "lockgate"
    assert span.resource["service.name"] == "lockgate-test"
    # The span covers the request itself: its real start and its latency.
    assert abs(span.start_ns - row["ts"] * 1e9) < 2e6
    assert abs((span.end_ns - span.start_ns) - row["latency_ms"] * 1e6) < 2e3
    a = span.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["openai.api.type"] == "chat_completions"
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-5-mini"
    assert a["lockgate.model.requested"] == "fast"
    assert a["gen_ai.response.model"] == "gpt-5-mini"
    assert a["gen_ai.response.id"].startswith("chatcmpl")
    assert a["gen_ai.usage.input_tokens"] == row["input_tokens"] > 0
    assert a["gen_ai.usage.output_tokens"] == row["output_tokens"] > 0
    assert a["http.response.status_code"] == 200
    assert a["server.address"] == "127.0.0.1" and isinstance(a["server.port"], int)
    assert a["lockgate.stream"] is True
    assert a["lockgate.time_to_first_token_ms"] == pytest.approx(row["ttft_ms"], abs=1e-3)
    assert a["lockgate.session.id"] == a["gen_ai.conversation.id"] == "sess-42"
    assert a["lockgate.session.path"] == "/plan/a" and a["lockgate.user.id"] == "bob"
    assert a["lockgate.property.team"] == "infra"
    assert "error.type" not in a and span.status_code != STATUS_ERROR
    assert receiver.requests[-1]["x-collector-token"] == "t0ken"
    assert receiver.requests[-1]["content-type"] == "application/x-protobuf"


def test_non_streamed_responses_span(traced: GatewayProcess, receiver: OtlpReceiver) -> None:
    client = openai.OpenAI(base_url=traced.url, api_key=traced.key, max_retries=0)
    raw = client.responses.with_raw_response.create(model="gpt-5", input="reason about it",
                                                    reasoning={"effort": "low"}, prompt_cache_key="pk")
    resp = raw.parse()
    rid = raw.headers["lockgate-request-id"]
    row = traced.row(rid)
    span = receiver.span_for(rid)
    assert span.name == "chat gpt-5"
    assert abs(span.start_ns - row["ts"] * 1e9) < 2e6
    assert abs((span.end_ns - span.start_ns) - row["latency_ms"] * 1e6) < 2e3
    a = span.attributes
    assert a["openai.api.type"] == "responses"
    assert a["gen_ai.response.id"] == resp.id
    assert a["gen_ai.response.model"] == resp.model
    assert a["gen_ai.usage.input_tokens"] == resp.usage.input_tokens
    assert a["gen_ai.usage.output_tokens"] == resp.usage.output_tokens
    assert a["gen_ai.usage.cache_read.input_tokens"] == resp.usage.input_tokens_details.cached_tokens > 0
    assert a["gen_ai.usage.reasoning.output_tokens"] == resp.usage.output_tokens_details.reasoning_tokens == 7
    assert a["lockgate.stream"] is False and "lockgate.time_to_first_token_ms" not in a
    assert a["lockgate.key.name"] == "test"


def test_failed_request_span(traced: GatewayProcess, receiver: OtlpReceiver) -> None:
    r = httpx.post(f"{traced.url}/responses", content=orjson.dumps({"model": "fake-error-503", "input": "x"}),
                   headers={"authorization": f"Bearer {traced.key}"})
    assert r.status_code == 503
    span = receiver.span_for(r.headers["lockgate-request-id"])
    assert span.status_code == STATUS_ERROR
    assert "fake upstream error 503" in span.status_message
    assert span.attributes["error.type"] == "upstream_status"
    assert span.attributes["http.response.status_code"] == 503


def test_embeddings_span(traced: GatewayProcess, receiver: OtlpReceiver) -> None:
    client = openai.OpenAI(base_url=traced.url, api_key=traced.key, max_retries=0)
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="vector")
    span = receiver.span_for(raw.headers["lockgate-request-id"])
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] > 0


def test_names_and_urls() -> None:
    assert traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"
    assert traces_url("https://otel.example/otlp/") == "https://otel.example/otlp/v1/traces"
    assert provider_semconv_name("work", ProviderSettings(base_url="https://api.anthropic.com")) == "anthropic"
    assert provider_semconv_name("az", ProviderSettings(base_url="https://x.openai.azure.com/openai")) == \
        "azure.ai.openai"
    assert provider_semconv_name("mistral", ProviderSettings(base_url="http://127.0.0.1:1/v1")) == "mistral_ai"
    assert provider_semconv_name("vllm", ProviderSettings(base_url="http://127.0.0.1:1/v1")) == "vllm"


def test_no_telemetry_imports_at_start() -> None:
    """Start-up cost: a gateway without [telemetry].otlp_endpoint imports no OpenTelemetry, and
    prometheus-client waits for the first scrape."""
    code = (
        "import sys, tempfile\n"
        "from lockgate.config import load_settings\n"
        "from lockgate.app import Gateway\n"
        "d = tempfile.mkdtemp()\n"
        "Gateway(load_settings(None, env={'LOCKGATE_DATA_DIR': d, 'OPENAI_API_KEY': 'sk-x'}))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'prometheus_client'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_sampling_keeps_every_failure(gateway_factory: Callable[..., GatewayProcess], receiver: OtlpReceiver) -> None:
    gw = gateway_factory(f'[telemetry]\notlp_endpoint = "{receiver.url}"\ntrace_sample_ratio = 0.0\n',
                         env={"OTEL_BSP_SCHEDULE_DELAY": "100"})
    with httpx.Client(timeout=10, headers={"authorization": f"Bearer {gw.key}"}) as c:
        ok = [c.post(f"{gw.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": f"s{i}"}))
              for i in range(3)]
        bad = c.post(f"{gw.url}/responses", content=orjson.dumps({"model": "fake-error-429", "input": "x"}))
    assert [r.status_code for r in ok] == [200, 200, 200] and bad.status_code == 429
    span = receiver.span_for(bad.headers["lockgate-request-id"])
    assert span.attributes["error.type"] == "upstream_status"
    # Spans leave in log order, so the successful ones would have arrived by now.
    sent = {r.headers["lockgate-request-id"] for r in ok}
    assert not [s for s in receiver.spans if s.attributes.get("lockgate.request.id") in sent]


def test_traceparent_makes_the_span_a_child(traced: GatewayProcess, receiver: OtlpReceiver, fake: FakeOpenAI) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    fake.clear()
    r = httpx.post(f"{traced.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": "child"}),
                   headers={"authorization": f"Bearer {traced.key}",
                            "traceparent": f"00-{trace_id}-{parent_id}-01"})
    assert r.status_code == 200
    span = receiver.span_for(r.headers["lockgate-request-id"])
    assert span.trace_id.hex() == trace_id and span.parent_span_id.hex() == parent_id
    assert span.span_id.hex() != parent_id
    # Still forwarded to the provider.
    assert fake.requests[-1].headers.get("traceparent") == f"00-{trace_id}-{parent_id}-01"
