"""Provider adapters and presets: where a request goes, with which credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lockgate.config import API_NAMES, ProviderSettings, load_settings
from lockgate.providers.azure import AzureProvider
from lockgate.providers.base import build_providers
from lockgate.providers.presets import PRESETS
from lockgate.routing.resolve import Router


def _settings(tmp_path: Path, toml: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    cfg = tmp_path / "lockgate.toml"
    cfg.write_text(toml)
    return load_settings(cfg, env=env or {})


def test_a_preset_fills_type_url_and_apis(tmp_path: Path) -> None:
    s = _settings(tmp_path, '[providers.gpu]\npreset = "vllm"\nbase_url = "http://10.0.0.5:8000/v1"\n'
                            '[providers.local]\npreset = "llamacpp"\nmodels = ["qwen*"]\n')
    gpu, local = s.providers["gpu"], s.providers["local"]
    assert (gpu.type, gpu.base_url, gpu.apis) == ("openai", "http://10.0.0.5:8000/v1",
                                                  ("chat", "responses", "messages", "embeddings"))
    assert (local.base_url, local.apis, local.models) == ("http://127.0.0.1:8080/v1",
                                                         ("chat", "messages", "embeddings"), ("qwen*",))
    providers = build_providers(s.providers, env={})
    assert providers["gpu"].request_url("messages", "m", True) == "http://10.0.0.5:8000/v1/messages"
    assert providers["local"].request_url("chat", "m", False) == "http://127.0.0.1:8080/v1/chat/completions"


def test_unknown_preset_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"unknown preset 'vlm'.*vllm"):
        _settings(tmp_path, '[providers.x]\npreset = "vlm"\n')


def test_every_preset_is_valid_and_says_its_native_apis() -> None:
    for p in PRESETS:
        base = p.base_url or "https://example.test"
        ps = ProviderSettings(type=p.type, base_url=base, apis=p.apis)  # type: ignore[arg-type]
        assert ps.apis and set(ps.apis) <= set(API_NAMES)


def test_env_presets_skip_azure_without_endpoint_and_place_bedrock_in_its_region(tmp_path: Path) -> None:
    s = load_settings(None, env={"AZURE_OPENAI_API_KEY": "k", "LOCKGATE_DATA_DIR": str(tmp_path)})
    assert "azure" not in s.providers
    s = load_settings(None, env={"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com",
                                 "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-3",
                                 "GEMINI_API_KEY": "g", "LOCKGATE_DATA_DIR": str(tmp_path)})
    assert s.providers["azure"].base_url == "https://r.openai.azure.com"
    assert s.providers["bedrock"].base_url == "https://bedrock-runtime.eu-west-3.amazonaws.com"
    # SigV4 from the AWS_* variables: the access key id must not be taken for a Bedrock API key.
    assert s.providers["bedrock"].api_key_env == "AWS_BEARER_TOKEN_BEDROCK"
    assert (s.providers["gemini"].type, s.providers["gemini"].apis) == ("gemini", ("gemini",))
    router = Router(s)
    assert router.resolve("gemini-2.5-pro").provider == "gemini"
    assert router.resolve("us.anthropic.claude-sonnet-4-5-v1:0").provider == "bedrock"


def test_azure_v1_and_classic_urls_and_api_key_header() -> None:
    v1 = AzureProvider("az", ProviderSettings(type="azure", base_url="https://r.openai.azure.com/openai/v1"), "key1")
    assert v1.request_url("responses", "dep", True) == "https://r.openai.azure.com/openai/v1/responses"
    assert v1.request_url("chat", "dep", False) == "https://r.openai.azure.com/openai/v1/chat/completions"
    assert ("api-key", "key1") in v1.auth_headers()
    classic = AzureProvider("az", ProviderSettings(type="azure", base_url="https://r.openai.azure.com",
                                                   api_version="2024-10-21"), "key1")
    assert classic.request_url("chat", "my dep", False) == (
        "https://r.openai.azure.com/openai/deployments/my%20dep/chat/completions?api-version=2024-10-21")
    assert classic.request_url("responses", "d", False) == (
        "https://r.openai.azure.com/openai/responses?api-version=2024-10-21")
    assert classic.url("/responses/resp_1") == "https://r.openai.azure.com/openai/responses/resp_1?api-version=2024-10-21"
    # A caller's own key (Helicone-Auth BYOK) is sent as api-key, the way Azure takes keys.
    assert classic.client_key_headers([("Authorization", "Bearer sk-own")]) == [("api-key", "sk-own")]


def test_router_maps_models_to_azure_deployments(tmp_path: Path) -> None:
    s = _settings(tmp_path, '[providers.az]\ntype = "azure"\nbase_url = "https://r.openai.azure.com"\n'
                            'models = ["gpt-*"]\n[providers.az.deployments]\n"gpt-5" = "prod-gpt5"\n')
    router = Router(s)
    assert (router.resolve("gpt-5").model, router.resolve("gpt-5-mini").model) == ("prod-gpt5", "gpt-5-mini")
    assert router.resolve("az/gpt-5").model == "prod-gpt5"


def test_websocket_mode_where_the_host_serves_it(tmp_path: Path) -> None:
    """OpenAI, Azure's v1 API and xAI serve the Responses WebSocket mode; other hosts only with `websockets = true`."""
    s = _settings(tmp_path, '[providers.oa]\npreset = "openai"\n'
                            '[providers.x]\npreset = "xai"\n'
                            '[providers.az]\npreset = "azure"\nbase_url = "https://r.openai.azure.com"\n'
                            '[providers.azc]\npreset = "azure"\nbase_url = "https://r.openai.azure.com"\n'
                            'api_version = "2024-10-21"\n'
                            '[providers.gpu]\npreset = "vllm"\n'
                            '[providers.mine]\nbase_url = "http://10.0.0.7/v1"\nwebsockets = true\n'
                            '[providers.chat]\nbase_url = "http://10.0.0.8/v1"\napis = ["chat"]\nwebsockets = true\n'
                            '[providers.claude]\npreset = "anthropic"\n')
    urls = {name: p.websocket_url for name, p in build_providers(s.providers, env={}).items()}
    assert urls == {"oa": "https://api.openai.com/v1/responses", "x": "https://api.x.ai/v1/responses",
                    "az": "https://r.openai.azure.com/openai/v1/responses", "azc": None, "gpu": None,
                    "mine": "http://10.0.0.7/v1/responses", "chat": None, "claude": None}
    env = load_settings(None, env={"OPENAI_API_KEY": "k", "LOCKGATE_DATA_DIR": str(tmp_path)})
    assert env.providers["openai"].websockets is True
