"""AWS event-stream framing (`application/vnd.amazon.eventstream`), the transport of ConverseStream.

Each message is binary: a 12-byte prelude (total length, headers length, CRC32 of the
two), typed headers, the payload, and a CRC32 of everything before it. Bedrock sends
`:message-type` `event` with `:event-type` (messageStart, contentBlockDelta…), or
`exception` with `:exception-type` (throttlingException…), each with a JSON payload.

`EventStreamReader` plays the part `SseReader` plays for SSE: bytes in, however chunked,
(name, payload) pairs out. Parsing and CRC checks are botocore's `EventStreamBuffer`,
imported on first use so that a gateway without a Bedrock provider never loads botocore.
The writer functions are ours (botocore has no encoder); the fake Bedrock uses them.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import orjson

__all__ = ["EventStreamReader", "encode_message", "event_message", "exception_message"]

_STRING = 7  # header value type: UTF-8 string with a 2-byte length


class EventStreamReader:
    """Raw event-stream bytes → (name, payload) pairs.

    The name is the `:event-type` of an event, the `:exception-type` of a modelled
    exception, and "error" for a protocol error frame or bytes that do not parse (then
    the payload is `{"message", "code"}` JSON and the reader ignores anything after).
    """

    __slots__ = ("_broken", "_buf", "_pending")

    def __init__(self) -> None:
        from botocore.eventstream import EventStreamBuffer

        self._buf = EventStreamBuffer()
        self._broken = False
        self._pending = 0  # bytes fed but not yet part of a complete frame

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        if self._broken:
            return []
        from botocore.eventstream import ParserError

        self._buf.add_data(chunk)
        self._pending += len(chunk)
        out: list[tuple[str, bytes]] = []
        try:
            for msg in self._buf:
                self._pending -= msg.prelude.total_length
                out.append(_pair(msg.headers, msg.payload))
        except ParserError as e:
            self._broken = True
            out.append(_error("EventStreamCorrupt", f"unreadable event-stream frame: {type(e).__name__}: {e}"))
        return out

    def close(self) -> list[tuple[str, bytes]]:
        """The stream ended: a partial frame left over means it was cut."""
        if self._broken or not self._pending:
            return []
        self._broken = True
        return [_error("EventStreamTruncated", "event stream ended inside a frame")]


def _pair(headers: dict[str, Any], payload: bytes) -> tuple[str, bytes]:
    kind = headers.get(":message-type", "event")
    if kind == "event":
        return str(headers.get(":event-type", "")), payload
    if kind == "exception":
        return str(headers.get(":exception-type", "exception")), payload
    return _error(str(headers.get(":error-code", "error")), str(headers.get(":error-message", "")))


def _error(code: str, message: str) -> tuple[str, bytes]:
    return "error", orjson.dumps({"message": message, "code": code})


def encode_message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One frame with string-valued headers."""
    hdr = bytearray()
    for name, value in headers:
        n, v = name.encode(), value.encode()
        hdr += struct.pack(">B", len(n)) + n + struct.pack(">BH", _STRING, len(v)) + v
    total = 12 + len(hdr) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hdr))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + bytes(hdr) + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_message(event_type: str, payload: Any) -> bytes:
    """A Bedrock event frame (JSON payload)."""
    return encode_message([(":event-type", event_type), (":content-type", "application/json"),
                           (":message-type", "event")], orjson.dumps(payload))


def exception_message(exception_type: str, payload: Any) -> bytes:
    """A modelled exception frame, e.g. `modelStreamErrorException`."""
    return encode_message([(":exception-type", exception_type), (":content-type", "application/json"),
                           (":message-type", "exception")], orjson.dumps(payload))
