"""AWS Bedrock runtime: Converse / ConverseStream, signed with SigV4 or a Bedrock API key.

SigV4 signs the body, so the gateway asks `sign(method, url, headers, body)` for the
headers of each request instead of adding `auth_headers()` (empty for SigV4). With a
Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`) the key is a bearer token and nothing is
signed. Credentials are read from the environment once, at construction; botocore (the
signer) is imported only when the first request is signed.

    >>> env = {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1"}
    >>> p = BedrockProvider("bedrock", ProviderSettings.model_construct(base_url="", apis=("converse",)), None, env=env)
    >>> p.request_url("converse", "anthropic.claude-sonnet-4-v1:0", stream=True)
    'https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-sonnet-4-v1%3A0/converse-stream'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from lockgate.config import ProviderSettings

__all__ = ["BedrockProvider"]

SERVICE = "bedrock"  # the SigV4 signing name of bedrock-runtime
DEFAULT_REGION = "us-east-1"
_HOST_REGION = re.compile(r"^https?://bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")
_PATHS = {"converse": ("/converse", "/converse-stream"), "invoke": ("/invoke", "/invoke-with-response-stream")}


class BedrockProvider:
    websocket_url: str | None = None  # no WebSocket mode

    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None,
                 env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.name = name
        self.apis = frozenset(settings.apis)
        base = (settings.base_url or "").rstrip("/")
        m = _HOST_REGION.match(base)
        self.region = (m.group(1) if m else None) or env.get("AWS_REGION") or env.get(
            "AWS_DEFAULT_REGION") or DEFAULT_REGION
        self._base = base or f"https://bedrock-runtime.{self.region}.amazonaws.com"
        self._extra = [(k.lower(), v) for k, v in settings.headers.items()]
        # A Bedrock API key (configured, or the env var the AWS SDKs read) wins over SigV4.
        self._bearer = api_key or env.get("AWS_BEARER_TOKEN_BEDROCK") or None
        self._access_key = env.get("AWS_ACCESS_KEY_ID") or None
        self._secret_key = env.get("AWS_SECRET_ACCESS_KEY") or None
        self._token = env.get("AWS_SESSION_TOKEN") or None
        self._signer: Any = None

    @property
    def uses_sigv4(self) -> bool:
        return self._bearer is None

    def url(self, path: str) -> str:
        return self._base + path

    def apis_for(self, model: str) -> frozenset[str]:
        """InvokeModel takes Anthropic's own body for Claude models only; others use Converse."""
        if "anthropic." in model or model.startswith("anthropic"):
            return self.apis
        return self.apis - {"invoke"}

    def request_url(self, api: str, model: str, stream: bool) -> str:
        # Model ids and ARNs contain ':' and '/': one path segment, percent-encoded like the AWS SDKs do.
        return f"{self._base}/model/{quote(model, safe='')}{_PATHS[api][1 if stream else 0]}"

    def auth_headers(self) -> list[tuple[str, str]]:
        if self._bearer is None:
            return list(self._extra)  # SigV4: see sign()
        return [*self._extra, ("authorization", f"Bearer {self._bearer}")]

    def client_key_headers(self, key_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return self._extra + key_headers

    def sign(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
        """The headers to send: `headers` plus the provider's own and its authentication
        (`authorization`, `x-amz-date`, `x-amz-security-token` for SigV4). Every header in
        the result is signed, so send exactly these, with exactly `body`. `host` is signed as
        the URL's host[:port], the value HTTP clients put there themselves."""
        if self._bearer is not None:
            return [*headers, *self.auth_headers()]
        if self._access_key is None or self._secret_key is None:
            from lockgate.errors import UpstreamError

            raise UpstreamError(f"provider {self.name!r}: no AWS credentials (set AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY, or AWS_BEARER_TOKEN_BEDROCK)", code="missing_credentials")
        from botocore.awsrequest import AWSRequest

        if self._signer is None:
            from botocore.auth import SigV4Auth
            from botocore.credentials import Credentials

            creds = Credentials(self._access_key, self._secret_key, self._token)
            self._signer = SigV4Auth(creds, SERVICE, self.region)
        drop = {"authorization", "x-amz-date", "x-amz-security-token"}
        send = [(k.lower(), v) for k, v in [*headers, *self._extra] if k.lower() not in drop]
        request = AWSRequest(method=method, url=url, headers=dict(send), data=body)
        self._signer.add_auth(request)
        return [(k.lower(), str(v)) for k, v in request.headers.items()]
