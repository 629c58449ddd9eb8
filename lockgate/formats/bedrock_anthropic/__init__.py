"""Anthropic's Messages API on AWS Bedrock (InvokeModel), a provider format.

Claude models on Bedrock take Anthropic's own request body at
`POST /model/{modelId}/invoke` (and `/invoke-with-response-stream`): the Messages body
without `model` (it is in the URL) and `stream` (it is in the path), with
`anthropic_version: "bedrock-2023-05-31"`. The answer is an Anthropic message; a stream is
the AWS event stream whose `chunk` events carry each Anthropic stream event's JSON,
base64-encoded. Everything Converse would lose for Claude (thinking signatures byte for
byte, `cache_control`, Anthropic's own tool and content shapes) is kept this way.

Thinking signatures are valid only where they were made: reasoning decoded here is
labelled with this format's name, so it goes back to Bedrock and nowhere else, and
Anthropic-API reasoning is not sent to Bedrock (formats/fit.py drops other sources).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Any

import orjson

from lockgate import ir
from lockgate.formats.anthropic_messages import FORMAT as ANTHROPIC
from lockgate.formats.bedrock_converse.eventstream import EventStreamReader

__all__ = ["FORMAT", "BedrockAnthropicFormat", "InvokeStreamReader"]

NAME = "bedrock_anthropic"
BEDROCK_VERSION = "bedrock-2023-05-31"
Json = dict[str, Any]
# Bedrock's stream exceptions → the Anthropic error type the stream decoder understands.
_EXCEPTIONS = {"throttlingException": "rate_limit_error", "serviceUnavailableException": "overloaded_error",
               "modelStreamErrorException": "api_error", "internalServerException": "api_error",
               "validationException": "invalid_request_error", "modelTimeoutException": "timeout_error"}


def _relabel(part: Any, old: str, new: str) -> Any:
    return replace(part, source=new) if isinstance(part, ir.Reasoning) and part.source == old else part


class InvokeStreamReader:
    """Event-stream frames → (Anthropic event type, event JSON), as SseReader gives for Anthropic."""

    def __init__(self) -> None:
        self._frames = EventStreamReader()

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        return [self._event(name, payload) for name, payload in self._frames.feed(chunk)]

    def close(self) -> list[tuple[str | None, bytes]]:
        return [self._event(name, payload) for name, payload in self._frames.close()]

    @staticmethod
    def _event(name: str, payload: bytes) -> tuple[str | None, bytes]:
        try:
            data = orjson.loads(payload) if payload else {}
        except orjson.JSONDecodeError:
            data = {}
        if name == "chunk" and isinstance(data, dict) and isinstance(data.get("bytes"), str):
            try:
                inner = base64.b64decode(data["bytes"], validate=True)
                event = orjson.loads(inner)
            except (binascii.Error, orjson.JSONDecodeError):
                event = None
            if isinstance(event, dict):
                return str(event.get("type") or ""), inner
        message = data.get("message") if isinstance(data, dict) else None
        kind = _EXCEPTIONS.get(name, "api_error")
        error = {"type": "error", "error": {"type": kind, "message": str(message or f"Bedrock stream: {name}")}}
        return "error", orjson.dumps(error)


class _Decoder:
    """The Anthropic stream decoder, with reasoning labelled as Bedrock's."""

    def __init__(self) -> None:
        self._inner = ANTHROPIC.stream_decoder()

    def feed(self, event: str | None, data: bytes) -> list[ir.StreamEvent]:
        return [self._label(e) for e in self._inner.feed(event, data)]

    def close(self) -> list[ir.StreamEvent]:
        return [self._label(e) for e in self._inner.close()]

    @staticmethod
    def _label(ev: ir.StreamEvent) -> ir.StreamEvent:
        if isinstance(ev, ir.StreamPartStart | ir.StreamPartEnd) and isinstance(ev.part, ir.Reasoning):
            return replace(ev, part=_relabel(ev.part, "anthropic_messages", NAME))
        return ev


class BedrockAnthropicFormat:
    name = NAME

    def encode_request(self, req: ir.Request) -> Json:
        messages = [replace(m, parts=[_relabel(p, NAME, "anthropic_messages") for p in m.parts])
                    for m in req.messages]
        body = ANTHROPIC.encode_request(replace(req, messages=messages))
        body.pop("model", None)
        body.pop("stream", None)
        return {"anthropic_version": BEDROCK_VERSION, **body}

    def decode_response(self, body: Json) -> ir.Response:
        resp = ANTHROPIC.decode_response(body)
        return replace(resp, content=[_relabel(p, "anthropic_messages", NAME) for p in resp.content], source=NAME)

    def stream_decoder(self) -> _Decoder:
        return _Decoder()

    def stream_reader(self) -> InvokeStreamReader:
        return InvokeStreamReader()


FORMAT = BedrockAnthropicFormat()
