"""Request bodies on the passthrough path: peek at a few fields, change bytes surgically.

The body is never decoded and re-encoded as a whole: msgspec reads only `model`,
`stream` and `stream_options`, and a rewrite splices the new model into the original
bytes, so every other byte (unknown fields, encrypted reasoning, number formats) reaches
the upstream unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

from lockgate.errors import InvalidRequest

__all__ = ["Peek", "ensure_include_usage", "peek", "replace_model"]


class Peek(msgspec.Struct):
    model: Any = None
    stream: Any = None
    stream_options: Any = None


_decoder = msgspec.json.Decoder(Peek)


def peek(body: bytes) -> Peek:
    """Validate that `body` is a JSON object and read the fields routing needs."""
    if not body:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        p = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"The request body must be a JSON object ({exc}).") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request ({exc}).") from None
    if p.model is not None and not isinstance(p.model, str):
        raise InvalidRequest("`model` must be a string.", param="model", code="invalid_type")
    if p.stream is not None and not isinstance(p.stream, bool):
        raise InvalidRequest("`stream` must be a boolean.", param="stream", code="invalid_type")
    return p


_MODEL_RE = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')
_TOKEN_RE = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]')


def _top_level_model_span(body: bytes) -> tuple[int, int] | None:
    """Byte span of the top-level "model" value, found by tracking nesting depth."""
    depth = 0
    for m in _TOKEN_RE.finditer(body):
        tok = m.group()
        first = tok[:1]
        if first in b"{[":
            depth += 1
        elif first in b"}]":
            depth -= 1
        elif depth == 1 and tok == b'"model"':
            after = _MODEL_RE.match(body, m.start())
            if after is not None:
                return after.span(1)
    return None


def replace_model(body: bytes, old: str, new: str) -> bytes:
    """Return `body` with the top-level `model` value replaced by `new`."""
    new_raw = orjson.dumps(new)[1:-1]
    spans = [m.span(1) for m in _MODEL_RE.finditer(body) if orjson.loads(b'"' + m.group(1) + b'"') == old]
    # One match is the common case; nested "model" keys of the same value need the slow scan.
    span = spans[0] if len(spans) == 1 else _top_level_model_span(body)
    if span is None:
        raise InvalidRequest("Could not locate the `model` field in the request body.", param="model")
    return body[: span[0]] + new_raw + body[span[1]:]


def ensure_include_usage(body: bytes, stream_options: Any) -> tuple[bytes, bool]:
    """Ask a chat upstream for the final usage chunk; True when the client did not ask for it."""
    if isinstance(stream_options, dict) and stream_options.get("include_usage") is True:
        return body, False
    if stream_options is None:
        start = body.index(b"{") + 1
        rest = body[start:].lstrip()
        sep = b"" if rest.startswith(b"}") else b","
        return body[:start] + b'"stream_options":{"include_usage":true}' + sep + body[start:], True
    # Rare: the client sent stream_options without include_usage; re-encode this one.
    data = orjson.loads(body)
    data["stream_options"] = {**(stream_options if isinstance(stream_options, dict) else {}),
                              "include_usage": True}
    return orjson.dumps(data), True
