"""Server-sent events: an incremental reader for upstream streams and a writer for ours."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["SseReader", "event_type", "sse_data", "sse_event"]


def sse_event(name: str, payload: Any) -> bytes:
    """`event: <name>` plus one `data:` line of compact JSON (OpenAI Responses, Anthropic)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def event_type(data: bytes) -> str | None:
    """The `type` of a JSON event; read without parsing when it is the first key, as OpenAI sends it."""
    if data.startswith(b'{"type":"'):
        end = data.find(b'"', 9)
        if end > 0:
            return data[9:end].decode("utf-8", "replace")
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    kind = parsed.get("type") if isinstance(parsed, dict) else None
    return kind if isinstance(kind, str) else None


def sse_data(payload: Any) -> bytes:
    """A data-only event (OpenAI Chat Completions, Gemini). `[DONE]` is passed as bytes."""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return b"data: " + data + b"\n\n"


class SseReader:
    """Splits a byte stream into (event name, data) pairs, however the bytes are chunked.

    Follows the SSE rules that matter for LLM APIs: CRLF or LF line ends, several `data:`
    lines joined with newlines, comments (`:`) and `id:`/`retry:` ignored, an event without
    data dropped.
    """

    __slots__ = ("_buf", "_data", "_name")

    def __init__(self) -> None:
        self._buf = b""
        self._name: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[tuple[str | None, bytes]] = []
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            line = buf[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line(line, out)
        self._buf = buf[start:]
        return out

    def close(self) -> list[tuple[str | None, bytes]]:
        """The stream ended: an event left without its blank line still counts."""
        out: list[tuple[str | None, bytes]] = []
        if self._buf:
            self._line(self._buf.rstrip(b"\r"), out)
            self._buf = b""
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[tuple[str | None, bytes]]) -> None:
        if not line:
            if self._data:
                out.append((self._name, b"\n".join(self._data)))
            self._name, self._data = None, []
        elif line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"event:"):
            self._name = line[6:].strip().decode("utf-8", "replace")
