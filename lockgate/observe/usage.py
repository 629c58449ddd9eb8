"""Token usage from the bytes the tap kept (`LogRecord.usage_source`), in the writer thread.

Each source is a whole JSON body, the `data:` payload of one SSE event, or a whole raw
SSE event. Understood shapes: OpenAI Responses (terminal events or a response object),
Chat Completions, Embeddings, Anthropic Messages (body, message_start, message_delta) and
Gemini `usageMetadata` (body or stream chunk). Anything else is ignored.

Counts are stored with OpenAI's meaning whatever the provider: `input_tokens` includes
cached and cache-write tokens, `output_tokens` includes reasoning tokens. Pricing
(`observe/cost.py`) relies on that.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from lockgate.observe.record import LogRecord

__all__ = ["apply_usage"]

_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
                 "cache_write_1h_tokens", "reasoning_tokens", "total_tokens")


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
        found = _parse(raw)
        if found is None:
            continue
        rid, obj_type, usage, wrapped, dialect = found
        if record.response_id is None and (wrapped or obj_type == "response") and isinstance(rid, str) and rid:
            record.response_id = rid
        if isinstance(usage, dict):
            if dialect == _OPENAI and _is_anthropic(usage):
                dialect = _ANTHROPIC
            anthropic = anthropic or dialect == _ANTHROPIC
            for name, value in _COUNTERS[dialect](usage).items():
                if name in open_fields and value is not None:
                    setattr(record, name, value)
    # Anthropic sends no total; its streams split input (message_start) and output (message_delta).
    inputs, outputs = record.input_tokens, record.output_tokens
    if anthropic and "total_tokens" in open_fields and inputs is not None and outputs is not None:
        record.total_tokens = inputs + outputs


class _Body(msgspec.Struct):
    """The fields usage parsing reads; the decoder skips the rest (a terminal Responses
    event carries the whole response, output and reasoning included) without building it."""

    id: Any = None
    object: Any = None
    usage: Any = None
    usage_metadata: Any = msgspec.field(default=None, name="usageMetadata")  # Gemini


class _Event(_Body):
    type: Any = None
    response: _Body | None = None
    message: _Body | None = None


_EVENT = msgspec.json.Decoder(_Event)
_OPENAI, _ANTHROPIC, _GEMINI = 0, 1, 2  # usage dialects
_ANTHROPIC_TYPES = ("message", "message_start", "message_delta")
# (id, object, usage, wrapped in a Responses event, dialect)
_Found = tuple[Any, Any, Any, bool, int]


def _parse(raw: bytes) -> _Found | None:
    """The id, object type, usage and its dialect of one source, or None when it holds none."""
    text = _json_text(raw)
    if text is None:
        return None
    try:
        event = _EVENT.decode(text)
    except msgspec.ValidationError:
        # Valid JSON in an unexpected shape (say `"response": "..."`): read it generically.
        return _parse_generic(text)
    except msgspec.DecodeError:
        return None
    event_type = event.type
    if event.response is not None and isinstance(event_type, str) and event_type.startswith("response."):
        inner = event.response
        return inner.id, inner.object, inner.usage, True, _OPENAI
    if event.message is not None and event_type == "message_start":
        inner = event.message
        return inner.id, inner.object, inner.usage, False, _ANTHROPIC
    if event.usage is None and isinstance(event.usage_metadata, dict):
        return None, None, event.usage_metadata, False, _GEMINI
    return event.id, event.object, event.usage, False, _ANTHROPIC if event_type in _ANTHROPIC_TYPES else _OPENAI


def _parse_generic(text: bytes) -> _Found | None:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:  # e.g. an integer beyond 64 bits, which msgspec accepted
        return None
    if not isinstance(obj, dict):
        return None
    body, wrapped = _unwrap(obj)
    usage = body.get("usage")
    if usage is None and isinstance(body.get("usageMetadata"), dict):
        return None, None, body["usageMetadata"], False, _GEMINI
    event_type = obj.get("type")
    dialect = _ANTHROPIC if isinstance(event_type, str) and event_type in _ANTHROPIC_TYPES else _OPENAI
    return body.get("id"), body.get("object"), usage, wrapped, dialect


def _json_text(raw: bytes) -> bytes | None:
    """The JSON object text of a source: the body itself or an SSE event's data."""
    text = raw.strip()
    if not text.startswith(b"{"):
        text = _sse_data(text)
        if not text.startswith(b"{"):
            return None  # no data, or e.g. [DONE]
    return text


def _sse_data(event: bytes) -> bytes:
    """An SSE event's data: its `data:` lines joined by newlines (one line in practice).

    Walks line starts with find() and copies only the data lines: splitting a 20 KB
    terminal event into lines cost more than decoding it."""
    if b"\r" in event:  # CR or CRLF line ends: rare enough for the simple way
        event = b"\n".join(event.splitlines())
    parts: list[bytes] = []
    pos, size = 0, len(event)
    while pos < size:
        end = event.find(b"\n", pos)
        if end < 0:
            end = size
        if event.startswith(b"data:", pos):
            start = pos + 6 if event.startswith(b" ", pos + 5) else pos + 5
            parts.append(event[start:end])
        pos = end + 1
    return (parts[0] if len(parts) == 1 else b"\n".join(parts)).strip()


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


def _openai_counts(usage: dict[str, Any]) -> dict[str, int | None]:
    inputs = _first(_int(usage.get("input_tokens")), _int(usage.get("prompt_tokens")))
    output = _first(_int(usage.get("output_tokens")), _int(usage.get("completion_tokens")))
    reasoning = _first(_detail(usage, "output_tokens_details", "reasoning_tokens"),
                       _detail(usage, "completion_tokens_details", "reasoning_tokens"))
    total = _int(usage.get("total_tokens"))
    # Some hosts (xAI's chat API) leave reasoning out of completion_tokens; their total, or
    # more reasoning than output, gives it away. Store it in output as OpenAI does.
    if reasoning and output is not None and (
            reasoning > output or (inputs is not None and total == inputs + output + reasoning)):
        output += reasoning
    return {
        "input_tokens": inputs,
        "output_tokens": output,
        "cached_input_tokens": _first(_detail(usage, "input_tokens_details", "cached_tokens"),
                                      _detail(usage, "prompt_tokens_details", "cached_tokens")),
        # OpenAI does not report cache writes; some compatible hosts (OpenRouter) do, here.
        "cache_write_tokens": _first(_detail(usage, "input_tokens_details", "cache_write_tokens"),
                                     _detail(usage, "prompt_tokens_details", "cache_write_tokens")),
        "cache_write_1h_tokens": None,
        "reasoning_tokens": reasoning,
        "total_tokens": total,
    }


def _anthropic_counts(usage: dict[str, Any]) -> dict[str, int | None]:
    # Anthropic's input_tokens excludes cache reads and writes; OpenAI's includes cached
    # tokens. Store the OpenAI meaning so that input_tokens means the same in every row.
    uncached = _int(usage.get("input_tokens"))
    read = _int(usage.get("cache_read_input_tokens"))
    write = _int(usage.get("cache_creation_input_tokens"))
    # Writes with a 1 h TTL cost more than 5 min ones; `cache_creation` splits the total.
    write_5m = _detail(usage, "cache_creation", "ephemeral_5m_input_tokens")
    write_1h = _detail(usage, "cache_creation", "ephemeral_1h_input_tokens")
    if write is None and (write_5m is not None or write_1h is not None):
        write = (write_5m or 0) + (write_1h or 0)
    output = _int(usage.get("output_tokens"))
    total_in = None if uncached is None else uncached + (read or 0) + (write or 0)
    return {
        "input_tokens": total_in,
        "output_tokens": output,
        "cached_input_tokens": read,
        "cache_write_tokens": write,
        "cache_write_1h_tokens": write_1h,
        "reasoning_tokens": _detail(usage, "output_tokens_details", "thinking_tokens"),
        "total_tokens": None,
    }


def _gemini_counts(usage: dict[str, Any]) -> dict[str, int | None]:
    # Gemini counts thoughts apart from candidates and tool-use prompts apart from the
    # prompt; both are billed (output and input), so fold them in as OpenAI does.
    prompt = _int(usage.get("promptTokenCount"))
    tool_prompt = _int(usage.get("toolUsePromptTokenCount"))
    candidates = _int(usage.get("candidatesTokenCount"))
    thoughts = _int(usage.get("thoughtsTokenCount"))
    inputs = None if prompt is None and tool_prompt is None else (prompt or 0) + (tool_prompt or 0)
    outputs = None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
    return {
        "input_tokens": inputs,
        "output_tokens": outputs,
        "cached_input_tokens": _int(usage.get("cachedContentTokenCount")),
        "cache_write_tokens": None,  # explicit caches are billed by storage time, not per request
        "cache_write_1h_tokens": None,
        "reasoning_tokens": thoughts,
        "total_tokens": _int(usage.get("totalTokenCount")),
    }


_COUNTERS = (_openai_counts, _anthropic_counts, _gemini_counts)  # indexed by dialect
