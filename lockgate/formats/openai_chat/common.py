"""Pieces shared by the request, response and stream halves of the chat format."""

from __future__ import annotations

import re
from typing import Any

from lockgate import ir
from lockgate.errors import InvalidRequest

NAME = "openai_chat"

# Round-trip notes the decoder leaves in an `extra` dict for this format's own encoder:
# wire details the IR does not model (a string `stop` vs a list, `max_tokens` vs
# `max_completion_tokens`, list vs string content). Never emitted on the wire.
NOTE = "_lockgate_openai_chat"

Json = dict[str, Any]

_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.S)

FINISH_IN: dict[str, ir.FinishReason] = {
    "stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
    "content_filter": "content_filter",
}
# "refusal", "pause" and "error" have no chat reason; the refusal travels in `refusal`.
FINISH_OUT: dict[str, str] = {
    "stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter",
    "refusal": "stop", "pause": "stop", "error": "stop",
}


def split_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a canonical `data:<type>;base64,<data>` URL, else None."""
    m = _DATA_URL.fullmatch(url)
    return (m.group(1), m.group(2)) if m else None


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


def notes(extra: Json) -> Json:
    note = extra.get(NOTE)
    return note if isinstance(note, dict) else {}


def without_notes(extra: Json) -> Json:
    return {k: v for k, v in extra.items() if k != NOTE}


def obj(value: Any, where: str) -> Json:
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{where}' must be an object", param=where)
    return value


def text_field(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"'{where}' must be a string", param=where)
    return value


def decode_usage(raw: Any) -> ir.Usage | None:
    """OpenAI usage → IR. DeepSeek reports cache hits as `prompt_cache_hit_tokens`."""
    if not isinstance(raw, dict):
        return None
    prompt = _int(raw.get("prompt_tokens"))
    details = raw.get("prompt_tokens_details") or {}
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    if not cached:
        cached = _int(raw.get("prompt_cache_hit_tokens"))
    out_details = raw.get("completion_tokens_details") or {}
    reasoning = _int(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else 0
    return ir.Usage(input_tokens=prompt, output_tokens=_int(raw.get("completion_tokens")),
                    cached_input_tokens=cached, reasoning_tokens=reasoning)


def encode_usage(usage: ir.Usage) -> Json:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
