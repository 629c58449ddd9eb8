"""Anthropic Messages (`POST /v1/messages`), both halves: lockgate accepts it from clients
(Claude Code, the anthropic SDK) and speaks it to Anthropic (and Bedrock/Vertex Claude)."""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.formats.anthropic_messages.blocks import NAME
from lockgate.formats.anthropic_messages.request import DEFAULT_MAX_TOKENS, decode_request, encode_request
from lockgate.formats.anthropic_messages.response import decode_response, encode_response
from lockgate.formats.anthropic_messages.stream import AnthropicStreamDecoder, AnthropicStreamEncoder

__all__ = ["DEFAULT_MAX_TOKENS", "FORMAT", "AnthropicMessages"]


class AnthropicMessages:
    name = NAME

    def decode_request(self, body: dict[str, Any]) -> ir.Request:
        return decode_request(body)

    def encode_request(self, req: ir.Request) -> dict[str, Any]:
        return encode_request(req)

    def decode_response(self, body: dict[str, Any]) -> ir.Response:
        return decode_response(body)

    def encode_response(self, resp: ir.Response, req: ir.Request) -> dict[str, Any]:
        return encode_response(resp, req)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def stream_encoder(self, req: ir.Request, provider: str | None = None) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder(req)


FORMAT = AnthropicMessages()
