"""A Gemini `GenerateContentResponse` → IR response, plus the usage and finish mappings the
stream decoder shares.

Usage: `promptTokenCount` already includes `cachedContentTokenCount`; tool-use prompt tokens
(Google Search and the like) are prompt tokens too. Output is `candidatesTokenCount` plus
`thoughtsTokenCount` (the IR counts reasoning in output).

Finish: a candidate that holds function calls finishes with "tool_calls" (Gemini says STOP);
the safety family → "content_filter"; calls the model botched → "error". The raw reason
stays in `Response.extra["finishReason"]`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from lockgate import ir
from lockgate.formats.gemini.parts import FORMAT_NAME, ir_from_part

__all__ = ["decode_response", "finish_reason", "response_token", "usage"]

Json = dict[str, Any]

_FILTERED = frozenset({
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION", "MODEL_ARMOR", "LANGUAGE", "ESCALATION", "PUP_LIMITED_DISABLED",
})
_ERRORS = frozenset({
    "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "MISSING_THOUGHT_SIGNATURE",
    "MALFORMED_RESPONSE",
})
_LENGTH = frozenset({"MAX_TOKENS", "CONTINUATION"})
_KEPT = ("promptFeedback", "citationMetadata", "groundingMetadata", "urlContextMetadata")


def finish_reason(raw: str | None, has_calls: bool) -> ir.FinishReason:
    if raw in _LENGTH:
        return "length"
    if raw in _FILTERED:
        return "content_filter"
    if raw in _ERRORS:
        return "error"
    return "tool_calls" if has_calls else "stop"


def usage(meta: Json | None) -> ir.Usage | None:
    if not meta:
        return None
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return ir.Usage(
        input_tokens=int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cached_input_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def response_token(body: Json, raw: bytes | None = None) -> str:
    """What makes generated call ids unique: the response id, else a hash of the body."""
    rid = body.get("responseId")
    if isinstance(rid, str) and rid:
        return rid
    return hashlib.sha256(raw if raw is not None else orjson.dumps(body)).hexdigest()


def decode_response(body: Json) -> ir.Response:
    token = response_token(body)
    candidates = body.get("candidates") or []
    cand: Json = candidates[0] if candidates else {}
    content: list[ir.Part] = []
    calls = 0
    for part in (cand.get("content") or {}).get("parts") or []:
        p = ir_from_part(part, token, calls)
        if p is None:
            continue
        if isinstance(p, ir.ToolCall):
            calls += 1
        content.append(p)
    raw = cand.get("finishReason")
    extra: Json = {k: v for k, v in ((k, cand.get(k) or body.get(k)) for k in _KEPT) if v}
    if raw:
        extra["finishReason"] = raw
    if not candidates and (body.get("promptFeedback") or {}).get("blockReason"):
        reason: ir.FinishReason = "content_filter"
    else:
        reason = finish_reason(raw, calls > 0)
    return ir.Response(
        id=str(body.get("responseId") or token[:24]),
        model=str(body.get("modelVersion") or ""),
        content=content,
        finish_reason=reason,
        usage=usage(body.get("usageMetadata")),
        source=FORMAT_NAME,
        extra=extra,
    )
