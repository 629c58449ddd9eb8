"""Azure OpenAI through lockgate: both URL schemes, deployments, `api-key`, passthrough and translation."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import openai
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_proc import GatewayProcess


@pytest.fixture(scope="module")
def azure_gw(gateway_factory: Callable[..., GatewayProcess], fake: FakeOpenAI) -> GatewayProcess:
    root = fake.url.removesuffix("/v1")
    config = f"""
[log]
flush_interval = 0.05

[providers.az]
type = "azure"
base_url = "{root}"
api_key_env = "AZ_KEY"
models = ["gpt-*"]

[providers.az.deployments]
"gpt-5" = "prod-gpt5"

[providers.azclassic]
type = "azure"
base_url = "{root}/openai"
api_version = "2025-04-01-preview"
api_key_env = "AZ_KEY"
models = ["classic-*"]
"""
    return gateway_factory(config=config, env={"AZ_KEY": UPSTREAM_KEY})


def test_v1_scheme_passes_responses_through_with_the_deployment_name(azure_gw: GatewayProcess,
                                                                     fake: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=azure_gw.url, api_key=azure_gw.key, max_retries=0)
    resp = client.responses.create(model="gpt-5", input="hello")
    assert resp.status == "completed" and resp.output_text
    sent = fake.requests[-1]
    assert sent.path == "/openai/v1/responses" and sent.headers["api-key"] == UPSTREAM_KEY
    assert "authorization" not in sent.headers and sent.json()["model"] == "prod-gpt5"


def test_classic_scheme_puts_the_deployment_in_the_path(azure_gw: GatewayProcess, fake: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=azure_gw.url, api_key=azure_gw.key, max_retries=0)
    done = client.chat.completions.create(model="classic-4o", messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content
    sent = fake.requests[-1]
    assert (sent.path, sent.query) == ("/openai/deployments/classic-4o/chat/completions",
                                       "api-version=2025-04-01-preview")
    resp = client.responses.create(model="classic-4o", input="hello", stream=True)
    assert [e.type for e in resp][-1] == "response.completed"
    assert fake.requests[-1].path == "/openai/responses"


def test_claude_code_reaches_azure_by_translation(azure_gw: GatewayProcess, fake: FakeOpenAI) -> None:
    client = anthropic.Anthropic(base_url=azure_gw.root, api_key=azure_gw.key, max_retries=0)
    with client.messages.stream(model="gpt-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
    assert text and fake.requests[-1].path == "/openai/v1/responses"
