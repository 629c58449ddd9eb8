"""Anthropic: Messages API with `x-api-key` and `anthropic-version`."""

from __future__ import annotations

from lockgate.config import ProviderSettings

__all__ = ["AnthropicProvider"]

_PATHS = {"messages": "/messages", "count_tokens": "/messages/count_tokens"}

API_VERSION = "2023-06-01"


class AnthropicProvider:
    websocket_url: str | None = None  # no WebSocket mode

    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None) -> None:
        self.name = name
        self.apis = frozenset(settings.apis)
        base = settings.base_url.rstrip("/")
        self._base = base if base.endswith("/v1") else base + "/v1"
        headers = [(k.lower(), v) for k, v in settings.headers.items()]
        headers.append(("anthropic-version", API_VERSION))
        self._extra = list(headers)
        if api_key:
            headers.append(("x-api-key", api_key))
        self._auth = headers

    def url(self, path: str) -> str:
        return self._base + path

    def request_url(self, api: str, model: str, stream: bool) -> str:
        return self._base + _PATHS[api]

    def auth_headers(self) -> list[tuple[str, str]]:
        return self._auth

    def client_key_headers(self, key_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return self._extra + key_headers
