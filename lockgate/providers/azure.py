"""Azure OpenAI: deployments instead of models, the `api-key` header, and two URL schemes.

With `api_version` empty, the v1 API: `{base}/openai/v1/responses` (and /chat/completions,
/embeddings), the deployment name in the body's `model`. With `api_version` set, the
classic scheme: `{base}/openai/deployments/{deployment}/chat/completions?api-version=…`
(the deployment in the path) and `{base}/openai/responses?api-version=…`. The router maps
model names to deployments (`[providers.X.deployments]`) before a request gets here.
"""

from __future__ import annotations

from urllib.parse import quote

from lockgate.config import ProviderSettings

__all__ = ["AzureProvider"]

_PATHS = {"responses": "/responses", "chat": "/chat/completions", "embeddings": "/embeddings"}


class AzureProvider:
    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None) -> None:
        self.name = name
        self.apis = frozenset(settings.apis)
        base = settings.base_url.rstrip("/")
        for suffix in ("/openai/v1", "/openai"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        self._base = base
        self._version = settings.api_version
        # Azure serves the WebSocket mode on the v1 API only.
        self.websocket_url = (f"{base}/openai/v1/responses" if settings.websockets and not self._version
                              and "responses" in self.apis else None)
        headers = [(k.lower(), v) for k, v in settings.headers.items()]
        self._extra = list(headers)
        if api_key:
            headers.append(("api-key", api_key))
        self._auth = headers

    def url(self, path: str) -> str:
        if not self._version:
            return f"{self._base}/openai/v1{path}"
        sep = "&" if "?" in path else "?"
        return f"{self._base}/openai{path}{sep}api-version={self._version}"

    def request_url(self, api: str, model: str, stream: bool) -> str:
        path = _PATHS[api]
        if not self._version:
            return f"{self._base}/openai/v1{path}"
        if api == "responses":
            return f"{self._base}/openai/responses?api-version={self._version}"
        return f"{self._base}/openai/deployments/{quote(model, safe='')}{path}?api-version={self._version}"

    def auth_headers(self) -> list[tuple[str, str]]:
        return self._auth

    def client_key_headers(self, key_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # A caller's own key arrives as Authorization: Bearer; Azure accepts Entra tokens that way
        # and keys only as api-key.
        out = list(self._extra)
        for k, v in key_headers:
            if k.lower() == "authorization" and v.lower().startswith("bearer ") and not v[7:].startswith("ey"):
                out.append(("api-key", v[7:]))
            else:
                out.append((k, v))
        return out
