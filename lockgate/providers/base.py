"""The provider interface: where a request goes and with which credentials.

A provider knows its base URL, how to authenticate, and which inbound APIs it speaks
natively (so the gateway can pass bytes through). Wire formats live elsewhere.

    >>> p = OpenAIProvider("openai", ProviderSettings(base_url="http://127.0.0.1:9/v1"), api_key="sk-x")
    >>> p.url("/responses")
    'http://127.0.0.1:9/v1/responses'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

from lockgate.config import ProviderSettings

__all__ = ["Provider", "build_providers"]


class Provider(Protocol):
    name: str
    apis: frozenset[str]
    websocket_url: str | None  # the Responses API's WebSocket mode, where the host serves it

    def url(self, path: str) -> str:
        """Absolute upstream URL for an API path such as "/responses"."""
        ...

    def request_url(self, api: str, model: str, stream: bool) -> str:
        """Where a request in one of the provider's native `apis` goes ("chat", "responses",
        "messages", "gemini", "converse"…): Gemini and Bedrock put the model and the streaming
        mode in the URL, the others in the body."""
        ...

    def auth_headers(self) -> list[tuple[str, str]]:
        """Headers that carry the provider key; they replace the client's auth headers."""
        ...

    def client_key_headers(self, key_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The provider's headers with the caller's own key in place of the configured one."""
        ...


def build_providers(settings: Mapping[str, ProviderSettings], env: Mapping[str, str] | None = None) -> dict[
        str, Provider]:
    """One adapter per configured provider, keys read from the environment once."""
    import importlib

    env = os.environ if env is None else env
    out: dict[str, Provider] = {}
    for name, ps in settings.items():
        key = env.get(ps.api_key_env) if ps.api_key_env else None
        # Imported per type in use: Bedrock's signing library is not loaded by a gateway without it.
        module, cls = _ADAPTERS[ps.type]
        out[name] = getattr(importlib.import_module(f"lockgate.providers.{module}"), cls)(name, ps, key)
    return out


_ADAPTERS = {"openai": ("openai", "OpenAIProvider"), "anthropic": ("anthropic", "AnthropicProvider"),
             "gemini": ("gemini", "GeminiProvider"), "azure": ("azure", "AzureProvider"),
             "bedrock": ("bedrock", "BedrockProvider")}
