"""Errors the gateway returns to clients.

    GatewayError                 status, type, code; rendered at the edge in the caller's API shape
    ├── ClientError              the request is wrong (4xx)
    │   ├── InvalidRequest       400 bad JSON, missing or malformed fields
    │   ├── Unauthorized         401 missing or unknown gateway key
    │   ├── NotFound             404 unknown route, model or response id
    │   ├── PayloadTooLarge      413 body over server.max_body_bytes
    │   ├── UnsupportedRoute     400 the model's provider does not speak this API
    │   └── TranslationError     400 the request uses something the target format cannot express
    └── UpstreamError            the provider could not be used (5xx)
        ├── UpstreamUnreachable  502 connect failed, connection dropped
        └── UpstreamTimeout      504 no bytes within upstream.read_timeout

Errors that the upstream itself returns are not raised: they pass through with their
own status and body.
"""

from __future__ import annotations

import orjson

__all__ = [
    "ClientError",
    "GatewayError",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "TranslationError",
    "Unauthorized",
    "UnsupportedRoute",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]


class GatewayError(Exception):
    status: int = 500
    type = "server_error"
    code: str | None = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param

    def openai_body(self) -> bytes:
        """The error in OpenAI's shape: {"error": {message, type, param, code}}."""
        return orjson.dumps(
            {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        )

    def anthropic_body(self) -> bytes:
        """The error in Anthropic's shape: {"type": "error", "error": {type, message}}."""
        return orjson.dumps({"type": "error", "error": {"type": self.anthropic_type(), "message": self.message}})

    def anthropic_type(self) -> str:
        return _ANTHROPIC_TYPES.get(self.status, "api_error")


class ClientError(GatewayError):
    status = 400
    type = "invalid_request_error"
    code: str | None = None


class InvalidRequest(ClientError):
    pass


class Unauthorized(ClientError):
    status = 401
    code = "invalid_api_key"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class PayloadTooLarge(ClientError):
    status = 413
    code = "request_too_large"


class UnsupportedRoute(ClientError):
    code = "unsupported_api_for_provider"


class TranslationError(ClientError):
    code = "unsupported_by_target_format"


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


# Anthropic names its error types by status (https://docs.anthropic.com/en/api/errors).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    502: "api_error", 504: "timeout_error", 529: "overloaded_error",
}
