"""The interface every wire format implements, in two halves.

A *client* format is one lockgate accepts from callers (it decodes their requests and
encodes answers and streams in their shape). A *provider* format is one lockgate sends
upstream (it encodes requests and decodes answers and streams). OpenAI Responses, OpenAI
Chat Completions and Anthropic Messages are both; Gemini and Bedrock Converse are
provider formats only.

Decoders raise `lockgate.errors.InvalidRequest` for input the format rejects (a clear
400 for the caller); encoders raise `lockgate.errors.TranslationError` for IR the target
cannot express.
"""

from __future__ import annotations

from typing import Any, Protocol

from lockgate import ir

__all__ = ["ClientFormat", "ProviderFormat", "StreamDecoder", "StreamEncoder"]

Json = dict[str, Any]


class StreamDecoder(Protocol):
    """Provider stream → IR events. Fed one server-sent event at a time."""

    def feed(self, event: str | None, data: bytes) -> list[ir.StreamEvent]:
        """One SSE event (its `event:` name, if any, and its `data:` payload)."""
        ...

    def close(self) -> list[ir.StreamEvent]:
        """The upstream stream ended: events still owed (the caller checks for a finish)."""
        ...


class StreamEncoder(Protocol):
    """IR events → the client's SSE bytes. Guarantees the format's terminal event."""

    def feed(self, event: ir.StreamEvent) -> bytes:
        ...

    def finish(self, error: ir.StreamError | None = None) -> bytes:
        """Close the stream: the terminal event(s) not sent yet. With `error` (or when no
        StreamFinish was fed), the format's failure ending."""
        ...


class ClientFormat(Protocol):
    name: str

    def decode_request(self, body: Json) -> ir.Request:
        ...

    def encode_response(self, resp: ir.Response, req: ir.Request) -> Json:
        ...

    def stream_encoder(self, req: ir.Request, provider: str | None = None) -> StreamEncoder:
        """`provider`: the format the IR events are decoded from (where opaque extras belong)."""
        ...


class ProviderFormat(Protocol):
    name: str

    def encode_request(self, req: ir.Request) -> Json:
        ...

    def decode_response(self, body: Json) -> ir.Response:
        ...

    def stream_decoder(self) -> StreamDecoder:
        ...
