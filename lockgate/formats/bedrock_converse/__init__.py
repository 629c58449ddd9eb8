"""AWS Bedrock Converse / ConverseStream (provider format only).

- `encode_request` builds the body of `POST /model/{modelId}/converse` (or
  `/converse-stream`): the model id is in the URL, not the body.
- `decode_response` reads a Converse answer. The body has no id and no model: the id is
  made up (the gateway may use the `x-amzn-RequestId` header instead) and `model` is "".
- ConverseStream is **not SSE**: it is the AWS binary event stream
  (`application/vnd.amazon.eventstream`). Where the gateway uses `SseReader` for other
  providers, it uses `EventStreamReader` here; its (name, payload) pairs go to
  `stream_decoder().feed(name, payload)` like SSE events do:

      reader, decoder = EventStreamReader(), FORMAT.stream_decoder()
      for chunk in upstream_body:
          for name, payload in reader.feed(chunk):
              events += decoder.feed(name, payload)
      for name, payload in reader.close():
          events += decoder.feed(name, payload)
      events += decoder.close()

  The reader parses with botocore, imported on first use only.
- Reasoning (Anthropic models' thinking on Bedrock) round-trips as `reasoningContent`
  with its signature, only when `Reasoning.source == "bedrock_converse"`.
"""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.formats.bedrock_converse.eventstream import EventStreamReader
from lockgate.formats.bedrock_converse.request import encode_request
from lockgate.formats.bedrock_converse.response import decode_response
from lockgate.formats.bedrock_converse.stream import ConverseStreamDecoder

__all__ = ["FORMAT", "BedrockConverseFormat", "ConverseStreamDecoder", "EventStreamReader"]

CONTENT_TYPE = "application/vnd.amazon.eventstream"


class BedrockConverseFormat:
    name = "bedrock_converse"
    stream_content_type = CONTENT_TYPE

    def encode_request(self, req: ir.Request) -> dict[str, Any]:
        return encode_request(req)

    def decode_response(self, body: dict[str, Any]) -> ir.Response:
        return decode_response(body)

    def stream_decoder(self) -> ConverseStreamDecoder:
        return ConverseStreamDecoder()

    def stream_reader(self) -> EventStreamReader:
        """The framing reader for this format's stream bodies (in place of `SseReader`)."""
        return EventStreamReader()


FORMAT = BedrockConverseFormat()
