"""OpenAI Chat Completions, both halves: what chat clients send and what chat-only hosts
(OpenAI, DeepSeek, Ollama, vLLM, Groq…) accept."""

from __future__ import annotations

from lockgate import ir

from .common import NAME, Json
from .request_decode import decode_request
from .request_encode import encode_request
from .response import decode_response, encode_response
from .stream_decode import ChatStreamDecoder
from .stream_encode import ChatStreamEncoder

__all__ = ["FORMAT", "ChatStreamDecoder", "ChatStreamEncoder", "OpenAIChatFormat"]


class OpenAIChatFormat:
    """`max_tokens_field` and `stream_usage`: see `request_encode.encode_request` (a host that
    only knows `max_tokens`, or rejects `stream_options`, gets its own instance)."""

    name = NAME

    def __init__(self, *, max_tokens_field: str = "max_completion_tokens", stream_usage: bool = True) -> None:
        self.max_tokens_field = max_tokens_field
        self.stream_usage = stream_usage

    # client half
    def decode_request(self, body: Json) -> ir.Request:
        return decode_request(body)

    def encode_response(self, resp: ir.Response, req: ir.Request) -> Json:
        return encode_response(resp, req)

    def stream_encoder(self, req: ir.Request, provider: str | None = None) -> ChatStreamEncoder:
        return ChatStreamEncoder(req)

    # provider half
    def encode_request(self, req: ir.Request) -> Json:
        return encode_request(req, max_tokens_field=self.max_tokens_field, stream_usage=self.stream_usage)

    def decode_response(self, body: Json) -> ir.Response:
        return decode_response(body)

    def stream_decoder(self) -> ChatStreamDecoder:
        return ChatStreamDecoder()


FORMAT = OpenAIChatFormat()
