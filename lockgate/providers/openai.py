"""OpenAI and every OpenAI-compatible host (Ollama, vLLM, LM Studio, Groq, …)."""

from __future__ import annotations

from lockgate.config import ProviderSettings

__all__ = ["OpenAIProvider"]

# Several OpenAI-compatible hosts (Ollama, vLLM, LM Studio, llama.cpp) also serve Anthropic's
# Messages API under the same /v1 base.
_PATHS = {"responses": "/responses", "chat": "/chat/completions", "embeddings": "/embeddings",
          "messages": "/messages", "count_tokens": "/messages/count_tokens"}


class OpenAIProvider:
    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None) -> None:
        self.name = name
        self.apis = frozenset(settings.apis)
        self._base = settings.base_url.rstrip("/")
        self.websocket_url = self._base + "/responses" if settings.websockets and "responses" in self.apis else None
        headers = [(k.lower(), v) for k, v in settings.headers.items()]
        self._extra = list(headers)
        if api_key:
            headers.append(("authorization", f"Bearer {api_key}"))
        self._auth = headers

    def url(self, path: str) -> str:
        return self._base + path

    def request_url(self, api: str, model: str, stream: bool) -> str:
        return self._base + _PATHS[api]

    def auth_headers(self) -> list[tuple[str, str]]:
        return self._auth

    def client_key_headers(self, key_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return self._extra + key_headers
