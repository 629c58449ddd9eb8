"""A provider's error, re-told in the caller's API shape on translated paths."""

from __future__ import annotations

import orjson
import pytest

from lockgate.server.upstream_errors import from_upstream


@pytest.mark.parametrize(("status", "body", "kind", "openai_code", "anthropic_type"), [
    (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
     "overloaded", "overloaded", "overloaded_error"),
    (429, {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}},
     "rate_limit", "rate_limit_exceeded", "rate_limit_error"),
    (400, {"type": "error", "error": {"type": "invalid_request_error",
                                       "message": "prompt is too long: 210000 tokens > 200000 maximum"}},
     "context_length", "context_length_exceeded", "invalid_request_error"),
    (400, {"error": {"message": "This model's maximum context length is 128000 tokens.",
                     "type": "invalid_request_error", "code": "context_length_exceeded"}},
     "context_length", "context_length_exceeded", "invalid_request_error"),
    (429, {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                     "code": "insufficient_quota"}},
     "quota", "insufficient_quota", "billing_error"),
    (402, {"type": "error", "error": {"type": "billing_error", "message": "Your credit balance is too low"}},
     "quota", "insufficient_quota", "billing_error"),
    (400, {"message": "Malformed input request", "__type": "ValidationException"},
     "invalid", "invalid_value", "invalid_request_error"),
    (403, {"error": {"code": 403, "message": "API key not valid", "status": "PERMISSION_DENIED"}},
     "permission", "permission_denied", "permission_error"),
    (500, b"<html>oops</html>", "server", "upstream_error", "api_error"),
])
def test_error_kinds_and_both_shapes(status: int, body: object, kind: str, openai_code: str,
                                     anthropic_type: str) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    err = from_upstream(status, raw, "p", retry_after="7")
    assert err.kind == kind and err.retry_after == "7"
    openai = orjson.loads(err.openai_body())["error"]
    assert openai["code"] == openai_code and openai["message"]
    anthropic = orjson.loads(err.anthropic_body())
    assert anthropic["type"] == "error" and anthropic["error"]["type"] == anthropic_type
    assert err.openai_status() == (503 if status == 529 else 429 if kind == "quota" else status)
    assert err.status == status


@pytest.mark.parametrize(("delay", "header", "expected"), [
    ("20.5s", None, "21"), ("3s", None, "3"), ("3s", "9", "9"), ("soon", None, None), (None, None, None)])
def test_gemini_retry_info_becomes_retry_after(delay: str | None, header: str | None, expected: str | None) -> None:
    """Gemini puts the delay in the body (google.rpc.RetryInfo); a Retry-After header still wins."""
    details: list[dict[str, object]] = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []}]
    if delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
    body = {"error": {"code": 429, "message": "You exceeded your current quota, please check your plan.",
                      "status": "RESOURCE_EXHAUSTED", "details": details}}
    err = from_upstream(429, orjson.dumps(body), "gem", retry_after=header)
    assert err.kind == "rate_limit" and err.retry_after == expected
