"""Token usage from the bytes the tap kept (`LogRecord.usage_source`), in the writer thread.

Each source is a whole JSON body, the `data:` payload of one SSE event, or a whole raw
SSE event. Understood shapes: OpenAI Responses (terminal events or a response object),
Chat Completions, Embeddings, and Anthropic Messages usage. Anything else is ignored.
"""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.observe.record import LogRecord

__all__ = ["apply_usage"]

_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
                 "reasoning_tokens", "total_tokens")


def apply_usage(record: LogRecord) -> None:
    """Fill the token fields (and `response_id`) that are still None from `record.usage_source`.

    Fields already set by the request path are kept. Among the sources, a later one
    overrides an earlier one (the terminal event carries the final counts). Never raises
    on bad input.
    """
    if not record.usage_source:
        return
    open_fields = {f for f in _TOKEN_FIELDS if getattr(record, f) is None}
    anthropic = False
    for raw in record.usage_source:
        obj = _load(raw)
        if not isinstance(obj, dict):
            continue
        body, wrapped = _unwrap(obj)
        if record.response_id is None and (wrapped or body.get("object") == "response"):
            rid = body.get("id")
            if isinstance(rid, str) and rid:
                record.response_id = rid
        usage = body.get("usage")
        if isinstance(usage, dict):
            anthropic = anthropic or _is_anthropic(usage)
            for name, value in _counts(usage).items():
                if name in open_fields and value is not None:
                    setattr(record, name, value)
    # Anthropic sends no total; its streams split input (message_start) and output (message_delta).
    inputs, outputs = record.input_tokens, record.output_tokens
    if anthropic and "total_tokens" in open_fields and inputs is not None and outputs is not None:
        record.total_tokens = inputs + outputs


def _load(raw: bytes) -> Any:
    text = raw.strip()
    if not text.startswith(b"{"):
        # An SSE event: its data is the `data:` lines joined by newlines (one line in practice).
        lines = [ln[5:].removeprefix(b" ") for ln in text.splitlines() if ln.startswith(b"data:")]
        if not lines:
            return None
        text = b"\n".join(lines).strip()
        if not text.startswith(b"{"):
            return None  # e.g. [DONE]
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _unwrap(obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The object that holds `usage`: a Responses event's `response`, an Anthropic `message`, or obj."""
    inner = obj.get("response")
    event_type = obj.get("type")
    if isinstance(inner, dict) and isinstance(event_type, str) and event_type.startswith("response."):
        return inner, True
    inner = obj.get("message")
    if isinstance(inner, dict) and event_type == "message_start":
        return inner, False
    return obj, False


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _detail(usage: dict[str, Any], key: str, field: str) -> int | None:
    details = usage.get(key)
    return _int(details.get(field)) if isinstance(details, dict) else None


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _is_anthropic(usage: dict[str, Any]) -> bool:
    return "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage


def _counts(usage: dict[str, Any]) -> dict[str, int | None]:
    if _is_anthropic(usage):
        return _anthropic_counts(usage)
    return {
        "input_tokens": _first(_int(usage.get("input_tokens")), _int(usage.get("prompt_tokens"))),
        "output_tokens": _first(_int(usage.get("output_tokens")), _int(usage.get("completion_tokens"))),
        "cached_input_tokens": _first(_detail(usage, "input_tokens_details", "cached_tokens"),
                                      _detail(usage, "prompt_tokens_details", "cached_tokens")),
        "cache_write_tokens": None,
        "reasoning_tokens": _first(_detail(usage, "output_tokens_details", "reasoning_tokens"),
                                   _detail(usage, "completion_tokens_details", "reasoning_tokens")),
        "total_tokens": _int(usage.get("total_tokens")),
    }


def _anthropic_counts(usage: dict[str, Any]) -> dict[str, int | None]:
    # Anthropic's input_tokens excludes cache reads and writes; OpenAI's includes cached
    # tokens. Store the OpenAI meaning so that input_tokens means the same in every row.
    uncached = _int(usage.get("input_tokens"))
    read = _int(usage.get("cache_read_input_tokens"))
    write = _int(usage.get("cache_creation_input_tokens"))
    output = _int(usage.get("output_tokens"))
    total_in = None if uncached is None else uncached + (read or 0) + (write or 0)
    return {
        "input_tokens": total_in,
        "output_tokens": output,
        "cached_input_tokens": read,
        "cache_write_tokens": write,
        "reasoning_tokens": None,
        "total_tokens": None,
    }
