"""Google Gemini API: the model and the streaming mode sit in the URL, the key in
`x-goog-api-key`.

    >>> p = GeminiProvider("gemini", ProviderSettings(base_url="http://127.0.0.1:9"), api_key="k")
    >>> p.request_url("gemini", "gemini-2.5-flash", stream=True)
    'http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse'
"""

from __future__ import annotations

import re

from lockgate.config import ProviderSettings

__all__ = ["DEFAULT_BASE_URL", "GeminiProvider"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"

_VERSIONED = re.compile(r"/v\d+(alpha|beta)?\d*$")
_KEY_HEADER = "x-goog-api-key"


class GeminiProvider:
    websocket_url: str | None = None  # no WebSocket mode

    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None) -> None:
        self.name = name
        self.apis = frozenset({"gemini"})  # the only API it speaks; everything else is translated
        base = settings.base_url.rstrip("/")
        self._base = base if _VERSIONED.search(base) else base + "/v1beta"
        self._extra = [(k.lower(), v) for k, v in settings.headers.items()]
        self._auth = self._extra + ([(_KEY_HEADER, api_key)] if api_key else [])

    def url(self, path: str) -> str:
        return self._base + path

    def request_url(self, api: str, model: str, stream: bool) -> str:
        if api != "gemini":
            raise KeyError(api)
        model = model.removeprefix("models/")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self._base}/models/{model}:{method}"

    def auth_headers(self) -> list[tuple[str, str]]:
        return self._auth

    def client_key_headers(self, key_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The caller's own key, however it came (Bearer, x-api-key, x-goog-api-key), as Gemini's header."""
        for name, value in key_headers:
            key = value.strip()
            if name.lower() == "authorization":
                scheme, _, token = key.partition(" ")
                key = token.strip() if scheme.lower() == "bearer" else key
            if key:
                return [*self._extra, (_KEY_HEADER, key)]
        return list(self._extra)
