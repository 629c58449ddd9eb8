"""Google Gemini API (`generateContent`, `streamGenerateContent?alt=sse`, v1beta): a provider
format only (lockgate does not accept Gemini requests from clients)."""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.formats.gemini.parts import FORMAT_NAME
from lockgate.formats.gemini.request import encode_request
from lockgate.formats.gemini.response import decode_response
from lockgate.formats.gemini.stream import GeminiStreamDecoder

__all__ = ["FORMAT", "GeminiFormat", "GeminiStreamDecoder"]


class GeminiFormat:
    name = FORMAT_NAME

    def encode_request(self, req: ir.Request) -> dict[str, Any]:
        return encode_request(req)

    def decode_response(self, body: dict[str, Any]) -> ir.Response:
        return decode_response(body)

    def stream_decoder(self) -> GeminiStreamDecoder:
        return GeminiStreamDecoder()


FORMAT = GeminiFormat()
