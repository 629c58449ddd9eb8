"""Anthropic Message objects ↔ IR responses, plus the usage and stop-reason mappings."""

from __future__ import annotations

import time
from typing import Any

from lockgate import ir
from lockgate.errors import InvalidRequest
from lockgate.formats.anthropic_messages import blocks as B

__all__ = [
    "decode_response", "decode_usage", "encode_response", "encode_usage", "finish_reason", "stop_reason",
]

Json = dict[str, Any]

_FINISH: dict[str, ir.FinishReason] = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
    "refusal": "refusal", "pause_turn": "pause", "model_context_window_exceeded": "length",
}
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "refusal": "refusal",
         "content_filter": "refusal", "pause": "pause_turn", "error": "end_turn"}
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
               "cache_creation", "output_tokens_details")
_TOP_KEYS = ("id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage")


def finish_reason(stop: str | None) -> ir.FinishReason:
    return _FINISH.get(stop or "end_turn", "stop")


def stop_reason(finish: ir.FinishReason, stop_sequence: str | None) -> str:
    if finish == "stop" and stop_sequence is not None:
        return "stop_sequence"
    return _STOP[finish]


def _int(usage: Json, key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) else 0


def decode_usage(usage: Json) -> ir.Usage:
    """Anthropic counts uncached input, cache reads and cache writes apart; the IR's
    input_tokens is their sum."""
    read, write = _int(usage, "cache_read_input_tokens"), _int(usage, "cache_creation_input_tokens")
    split = usage.get("cache_creation")
    details = usage.get("output_tokens_details")
    return ir.Usage(
        input_tokens=_int(usage, "input_tokens") + read + write, output_tokens=_int(usage, "output_tokens"),
        cached_input_tokens=read, cache_write_tokens=write,
        cache_write_1h_tokens=_int(split, "ephemeral_1h_input_tokens") if isinstance(split, dict) else 0,
        reasoning_tokens=_int(details, "thinking_tokens") if isinstance(details, dict) else 0)


def encode_usage(usage: ir.Usage | None, output: bool = True) -> Json:
    u = usage or ir.Usage()
    out: Json = {
        "input_tokens": max(0, u.input_tokens - u.cached_input_tokens - u.cache_write_tokens),
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "cache_creation": {"ephemeral_5m_input_tokens": max(0, u.cache_write_tokens - u.cache_write_1h_tokens),
                           "ephemeral_1h_input_tokens": u.cache_write_1h_tokens},
    }
    if output:
        out["output_tokens"] = u.output_tokens
        if u.reasoning_tokens:
            out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


def decode_response(body: Json) -> ir.Response:
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise InvalidRequest("not an Anthropic message: content missing", param="content")
    parts, unknown = B.decode_blocks(body["content"], "content")
    extra: Json = {k: v for k, v in body.items() if k not in _TOP_KEYS}
    if unknown:
        extra[B.UNKNOWN_BLOCKS] = unknown
    raw_usage = body.get("usage")
    usage = decode_usage(raw_usage) if isinstance(raw_usage, dict) else None
    if isinstance(raw_usage, dict) and (rest := {k: v for k, v in raw_usage.items() if k not in _USAGE_KEYS}):
        extra["usage"] = rest  # server_tool_use, service_tier…
    stop = body.get("stop_reason")
    finish = finish_reason(stop)
    seq = body.get("stop_sequence")
    if stop is not None and stop_reason(finish, seq) != stop:
        extra["stop_reason"] = stop  # e.g. model_context_window_exceeded
    return ir.Response(id=str(body.get("id", "")), model=str(body.get("model", "")), content=parts,
                       finish_reason=finish, stop_sequence=seq if isinstance(seq, str) else None, usage=usage,
                       created=int(time.time()), source=B.NAME, extra=extra)


def encode_content(parts: list[ir.Part]) -> list[Json]:
    """Answer parts → content blocks for an Anthropic client."""
    out: list[Json] = []
    for part in parts:
        if isinstance(part, ir.Text):
            out.append(B.encode_text(part))
        elif isinstance(part, ir.Refusal):
            out.append({"type": "text", "text": part.text})
        elif isinstance(part, ir.ToolCall):
            out.append(B.encode_tool_use(part))
        elif isinstance(part, ir.Reasoning):
            if (block := B.encode_reasoning(part, foreign=True)) is not None:
                out.append(block)
        elif isinstance(part, ir.Image | ir.File | ir.ToolResult):
            continue  # not something an assistant message carries
    return out


def encode_response(resp: ir.Response, req: ir.Request | None = None) -> Json:
    same = resp.source == B.NAME
    extra = resp.extra if same else {}
    content = B.insert_unknown(encode_content(resp.content), extra.get(B.UNKNOWN_BLOCKS))
    usage = encode_usage(resp.usage)
    if same and isinstance(extra.get("usage"), dict):
        usage.update(extra["usage"])
    rid = resp.id if resp.id.startswith("msg_") or same else "msg_" + (resp.id or "lockgate")
    out: Json = {"id": rid, "type": "message", "role": "assistant", "model": resp.model, "content": content,
                 "stop_reason": extra.get("stop_reason") or stop_reason(resp.finish_reason, resp.stop_sequence),
                 "stop_sequence": resp.stop_sequence, "usage": usage}
    for key, value in extra.items():
        if key not in (B.UNKNOWN_BLOCKS, "usage", "stop_reason"):
            out[key] = value
    return out
