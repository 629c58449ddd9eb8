"""Stream helpers: strip the usage chunk we asked for, and end broken streams properly."""

from __future__ import annotations

import orjson

__all__ = ["UsageStripper", "stream_error_event"]

_USAGE_NULL = b',"usage":null'


class UsageStripper:
    """Undo `stream_options.include_usage` that the gateway added for its own accounting.

    Works on whole SSE events: drops the usage-only chunk (`"choices":[]` plus usage)
    and the `"usage":null` that the upstream adds to every other chunk.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> bytes:
        buf = self._buf + chunk
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self._buf = buf
            return b""
        ready, self._buf = buf[: cut + 2], buf[cut + 2:]
        return self._clean(ready)

    def flush(self) -> bytes:
        rest, self._buf = self._buf, b""
        return self._clean(rest) if rest else b""

    @staticmethod
    def _clean(events: bytes) -> bytes:
        if b'"choices":[]' in events:
            kept = [ev for ev in events.split(b"\n\n") if not (b'"choices":[]' in ev and b'"usage":{' in ev)]
            events = b"\n\n".join(kept)
        return events.replace(_USAGE_NULL, b"")


def stream_error_event(api: str, message: str, code: str, response_id: str | None) -> bytes:
    """The terminal event a client expects when the upstream stream breaks off."""
    error = {"message": message, "type": "upstream_error", "code": code}
    if api == "responses":
        resp = {"id": response_id, "object": "response", "status": "failed", "error": {"code": code,
                                                                                      "message": message}}
        data = orjson.dumps({"type": "response.failed", "response": resp})
        return b"event: response.failed\ndata: " + data + b"\n\n"
    if api == "messages":  # Anthropic ends a broken stream with an error event
        data = orjson.dumps({"type": "error", "error": {"type": "api_error", "message": message}})
        return b"event: error\ndata: " + data + b"\n\n"
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"
