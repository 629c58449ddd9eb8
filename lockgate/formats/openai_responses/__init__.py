"""OpenAI Responses (`POST /v1/responses`), the API Codex speaks: both halves.

Client side: decode_request, encode_response, stream_encoder. Provider side:
encode_request, decode_response, stream_decoder. Reasoning and tool-call state from other
formats travels through a Responses client inside reasoning items (`lockgate.formats.
envelope`); `envelope_key`, when set, signs those envelopes.
"""

from __future__ import annotations

from lockgate import ir
from lockgate.formats.openai_responses.common import NAME, Json
from lockgate.formats.openai_responses.request import decode_request, encode_request
from lockgate.formats.openai_responses.response import decode_response, encode_response
from lockgate.formats.openai_responses.stream_decode import ResponsesStreamDecoder
from lockgate.formats.openai_responses.stream_encode import ResponsesStreamEncoder

__all__ = ["FORMAT", "ResponsesFormat", "ResponsesStreamDecoder", "ResponsesStreamEncoder"]


class ResponsesFormat:
    name = NAME

    def __init__(self, envelope_key: bytes | None = None) -> None:
        self.envelope_key = envelope_key

    # client half
    def decode_request(self, body: Json) -> ir.Request:
        return decode_request(body, self.envelope_key)

    def encode_response(self, resp: ir.Response, req: ir.Request) -> Json:
        return encode_response(resp, req, self.envelope_key)

    def stream_encoder(self, req: ir.Request, provider: str | None = None) -> ResponsesStreamEncoder:
        """`provider`: the format the stream's IR comes from (see ResponsesStreamEncoder)."""
        return ResponsesStreamEncoder(req, self.envelope_key, provider)

    # provider half
    def encode_request(self, req: ir.Request) -> Json:
        return encode_request(req)

    def decode_response(self, body: Json) -> ir.Response:
        return decode_response(body, self.envelope_key)

    def stream_decoder(self) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder(self.envelope_key)


FORMAT = ResponsesFormat()
