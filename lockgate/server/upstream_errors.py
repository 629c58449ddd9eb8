"""An error answer from a provider, re-told in the caller's API shape (translated paths only).

Passthrough returns the provider's error bytes as they are. When the provider speaks
another format, its error object means nothing to the caller's SDK, so the message and
the kind of failure are carried over into the caller's shape, with the same status
(Anthropic's 529 "overloaded" becomes 503 for OpenAI clients, whose SDKs know 503; a billing or
quota error becomes 429 insufficient_quota, as OpenAI sends it).
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from lockgate.errors import GatewayError

__all__ = ["UpstreamStatus", "from_upstream"]

_CONTEXT_RE = re.compile(
    r"context[ _]length|context window|prompt is too long|too many (input )?tokens|maximum context|"
    r"input is too long|exceeds the maximum number of tokens|input token count", re.I)


class UpstreamStatus(GatewayError):
    """The provider answered with an error status."""

    def __init__(self, status: int, message: str, *, kind: str, retry_after: str | None = None) -> None:
        super().__init__(message, code=_OPENAI_CODES.get(kind, kind))
        self.status = status
        self.kind = kind  # rate_limit | overloaded | auth | permission | not_found | invalid | context_length | server
        self.type = _OPENAI_TYPES.get(kind, "server_error")
        self.retry_after = retry_after

    def openai_status(self) -> int:
        # OpenAI says "out of quota" as 429 insufficient_quota; its clients (Codex) stop retrying on exactly that.
        if self.kind == "quota":
            return 429
        return 503 if self.status == 529 else self.status

    def anthropic_type(self) -> str:
        return _ANTHROPIC_TYPES.get(self.kind) or super().anthropic_type()


_OPENAI_TYPES = {"rate_limit": "rate_limit_error", "invalid": "invalid_request_error",
                 "context_length": "invalid_request_error", "auth": "invalid_request_error",
                 "permission": "invalid_request_error", "not_found": "invalid_request_error",
                 "quota": "insufficient_quota", "overloaded": "server_error", "server": "server_error"}
_OPENAI_CODES = {"rate_limit": "rate_limit_exceeded", "invalid": "invalid_value",
                 "context_length": "context_length_exceeded", "auth": "invalid_api_key",
                 "permission": "permission_denied", "not_found": "model_not_found", "quota": "insufficient_quota",
                 "overloaded": "overloaded", "server": "upstream_error"}
_ANTHROPIC_TYPES = {"rate_limit": "rate_limit_error", "invalid": "invalid_request_error",
                    "context_length": "invalid_request_error", "auth": "authentication_error",
                    "permission": "permission_error", "not_found": "not_found_error", "quota": "billing_error",
                    "overloaded": "overloaded_error", "server": "api_error"}


def from_upstream(status: int, body: bytes, provider: str, retry_after: str | None = None) -> UpstreamStatus:
    message, hint, delay = _read(body)
    if not message:
        message = f"Provider `{provider}` answered with status {status}."
    return UpstreamStatus(status, message, kind=_kind(status, message, hint), retry_after=retry_after or delay)


def _read(body: bytes) -> tuple[str, str, str | None]:
    """(message, type-or-code hint, retry delay in seconds) from OpenAI, Anthropic, Gemini or Bedrock
    error bodies."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:500].decode("utf-8", "replace").strip(), "", None
    if isinstance(data, list) and data:  # Gemini streams and some hosts wrap errors in a list
        data = data[0]
    if not isinstance(data, dict):
        return "", "", None
    err = data.get("error", data)
    if isinstance(err, str):
        return err, "", None
    if not isinstance(err, dict):
        return "", "", None
    message = err.get("message") or err.get("Message") or data.get("message") or ""
    hint = err.get("type") or err.get("status") or err.get("code") or data.get("__type") or ""
    return str(message), str(hint), _retry_delay(err.get("details"))


_DELAY_RE = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _retry_delay(details: Any) -> str | None:
    """Google's RetryInfo (`"retryDelay": "21.5s"` in a Gemini error's details) as Retry-After seconds:
    Gemini sends it in the body only, and OpenAI and Anthropic clients wait on the header."""
    if not isinstance(details, list):
        return None
    for d in details:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = _DELAY_RE.match(str(d.get("retryDelay", "")))
            if m:
                return str(math.ceil(float(m.group(1))))
    return None


def _kind(status: int, message: str, hint: str) -> str:
    hint = hint.lower()
    if _CONTEXT_RE.search(message) or "context_length" in hint:
        return "context_length"
    if "quota" in hint or "insufficient_quota" in message or "billing" in hint or status == 402:
        return "quota"
    if status == 429 or "rate_limit" in hint or "throttl" in hint or "resource_exhausted" in hint:
        return "rate_limit"
    if status == 529 or "overloaded" in hint:
        return "overloaded"
    if status == 401:
        return "auth"
    if status == 403:
        return "permission"
    if status == 404:
        return "not_found"
    if 400 <= status < 500:
        return "invalid"
    return "server"
