"""A Converse response body → IR, and the pieces the stream decoder shares (stop reasons, usage)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from lockgate import ir

__all__ = ["FINISH", "decode_response", "decode_usage", "new_id"]

Json = dict[str, Any]
NAME = "bedrock_converse"

FINISH: dict[str, ir.FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "error",
    "malformed_tool_use": "error",
}
_EXTRA_KEYS = ("metrics", "additionalModelResponseFields", "trace", "performanceConfig", "serviceTier")


def new_id() -> str:
    """Converse bodies carry no id (it is the `x-amzn-RequestId` header): make one."""
    return "bedrock-" + uuid.uuid4().hex


def decode_usage(u: Json) -> ir.Usage:
    """Bedrock counts cache reads and writes apart from `inputTokens`; the IR's input includes them."""
    read = int(u.get("cacheReadInputTokens") or 0)
    write = int(u.get("cacheWriteInputTokens") or 0)
    write_1h = sum(int(d.get("inputTokens") or 0) for d in u.get("cacheDetails") or () if d.get("ttl") == "1h")
    return ir.Usage(input_tokens=int(u.get("inputTokens") or 0) + read + write,
                    output_tokens=int(u.get("outputTokens") or 0),
                    cached_input_tokens=read, cache_write_tokens=write, cache_write_1h_tokens=write_1h)


def stop_sequence(fields: Any) -> str | None:
    """Anthropic models report the matched sequence in additionalModelResponseFields (when asked)."""
    if isinstance(fields, dict):
        seq = fields.get("stop_sequence")
        return seq if isinstance(seq, str) else None
    return None


def decode_response(body: Json) -> ir.Response:
    message = (body.get("output") or {}).get("message") or {}
    content: list[ir.Part] = []
    for block in message.get("content") or ():
        part = decode_block(block)
        if part is not None:
            content.append(part)
    usage = body.get("usage")
    return ir.Response(
        id=new_id(),
        model="",  # not in the body: the model id was in the request URL
        content=content,
        finish_reason=FINISH.get(body.get("stopReason", "end_turn"), "stop"),
        stop_sequence=stop_sequence(body.get("additionalModelResponseFields")),
        usage=decode_usage(usage) if isinstance(usage, dict) else None,
        source=NAME,
        extra={k: body[k] for k in _EXTRA_KEYS if k in body},
    )


def decode_block(block: Json) -> ir.Part | None:
    if "text" in block:
        return ir.Text(block["text"])
    if "toolUse" in block:
        tu = block["toolUse"]
        return ir.ToolCall(call_id=tu["toolUseId"], name=tu["name"],
                           arguments=orjson.dumps(tu.get("input", {})).decode())
    if "reasoningContent" in block:
        rc = block["reasoningContent"]
        if "redactedContent" in rc:
            return ir.Reasoning(encrypted=rc["redactedContent"], redacted=True, source=NAME)
        rt = rc.get("reasoningText") or {}
        return ir.Reasoning(text=rt.get("text", ""), signature=rt.get("signature"), source=NAME)
    if "citationsContent" in block:
        cc = block["citationsContent"]
        text = "".join(c.get("text", "") for c in cc.get("content") or ())
        return ir.Text(text, extra={"citations": cc.get("citations", [])})
    return None  # image/video output and server-tool blocks have no IR part yet
