"""ConverseStream events → IR stream events.

Bedrock's order: messageStart, then per content block an optional contentBlockStart
(tool use only), contentBlockDelta×n, contentBlockStop; then messageStop{stopReason} and
last metadata{usage, metrics}. The finish is emitted at metadata so that it carries the
usage; `close()` emits it without usage if the stream ended before metadata. Exceptions
arrive as events named after their type (see `eventstream.EventStreamReader`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from lockgate import ir
from lockgate.formats.bedrock_converse.response import FINISH, NAME, decode_usage, new_id, stop_sequence

__all__ = ["ConverseStreamDecoder"]

Json = dict[str, Any]

# Modelled exceptions of ConverseStream and the HTTP status Bedrock gives them.
EXCEPTION_STATUS = {
    "throttlingException": 429, "validationException": 400, "modelStreamErrorException": 424,
    "internalServerException": 500, "serviceUnavailableException": 503,
}


@dataclass(slots=True)
class _Block:
    index: int
    part: ir.Text | ir.ToolCall | ir.Reasoning
    chunks: list[str] = field(default_factory=list)


class ConverseStreamDecoder:
    """Fed `(event type, JSON payload)` pairs from `EventStreamReader`."""

    def __init__(self) -> None:
        self._blocks: dict[int, _Block] = {}
        self._next = 0
        self._started = False
        self._stop: Json | None = None
        self._finished = False

    def feed(self, event: str | None, data: bytes) -> list[ir.StreamEvent]:
        if self._finished:
            return []
        try:
            payload = orjson.loads(data) if data else {}
        except orjson.JSONDecodeError:
            return [self._error("bad_event", f"Bedrock sent a {event} event that is not JSON", 502)]
        out: list[ir.StreamEvent] = []
        if event == "messageStart":
            out += self._start()
        elif event == "contentBlockStart":
            out += self._start()
            tu = (payload.get("start") or {}).get("toolUse")
            if tu is not None:
                self._open(payload.get("contentBlockIndex", 0), ir.ToolCall(tu["toolUseId"], tu["name"], ""), out)
        elif event == "contentBlockDelta":
            out += self._start()
            self._delta(payload.get("contentBlockIndex", 0), payload.get("delta") or {}, out)
        elif event == "contentBlockStop":
            block = self._blocks.pop(payload.get("contentBlockIndex", 0), None)
            if block is not None:
                self._end(block, out)
        elif event == "messageStop":
            self._stop = payload
        elif event == "metadata":
            usage = payload.get("usage")
            out += self._finish(decode_usage(usage) if isinstance(usage, dict) else None)
        elif event == "error":
            out.append(self._error(str(payload.get("code") or "upstream_error"), str(payload.get("message")), 502))
        elif event is not None and event.endswith("Exception"):
            message = str(payload.get("message") or event)
            out.append(self._error(event, message, EXCEPTION_STATUS.get(event, 502)))
        # anything else (future event types) carries nothing the IR models
        return out

    def close(self) -> list[ir.StreamEvent]:
        if self._finished or self._stop is None:
            return []  # no messageStop: the caller sees no finish and ends the stream as failed
        return self._finish(None)

    # -- helpers

    def _start(self) -> list[ir.StreamEvent]:
        if self._started:
            return []
        self._started = True
        return [ir.StreamStart(id=new_id(), model="")]

    def _open(self, bedrock_index: int, part: ir.Text | ir.ToolCall | ir.Reasoning,
              out: list[ir.StreamEvent]) -> _Block:
        block = _Block(self._next, part)
        self._next += 1
        self._blocks[bedrock_index] = block
        out.append(ir.StreamPartStart(block.index, part))
        return block

    def _delta(self, idx: int, delta: Json, out: list[ir.StreamEvent]) -> None:
        block = self._blocks.get(idx)
        if "text" in delta:
            if block is None:
                block = self._open(idx, ir.Text(""), out)
            self._chunk(block, delta["text"], "text", out)
        elif "toolUse" in delta:
            if block is None:  # a delta without its start: Bedrock never does this, keep the data anyway
                block = self._open(idx, ir.ToolCall(f"tooluse_{idx}", "", ""), out)
            self._chunk(block, str(delta["toolUse"].get("input", "")), "arguments", out)
        elif "reasoningContent" in delta:
            rc = delta["reasoningContent"]
            if block is None:
                block = self._open(idx, ir.Reasoning(source=NAME), out)
            part = block.part
            if not isinstance(part, ir.Reasoning):
                return
            if "text" in rc:
                self._chunk(block, rc["text"], "reasoning", out)
            if "signature" in rc:
                part.signature = (part.signature or "") + rc["signature"]
            if "redactedContent" in rc:
                part.redacted = True
                part.encrypted = (part.encrypted or "") + rc["redactedContent"]

    @staticmethod
    def _chunk(block: _Block, text: str, kind: Any, out: list[ir.StreamEvent]) -> None:
        if text:
            block.chunks.append(text)
            out.append(ir.StreamPartDelta(block.index, text, kind))

    def _end(self, block: _Block, out: list[ir.StreamEvent]) -> None:
        text = "".join(block.chunks)
        part = block.part
        if isinstance(part, ir.Text):
            done: ir.Part = ir.Text(text)
        elif isinstance(part, ir.ToolCall):
            if not text:  # a call without arguments: say so in a delta too, for delta-only encoders
                text = "{}"
                out.append(ir.StreamPartDelta(block.index, text, "arguments"))
            done = ir.ToolCall(part.call_id, part.name, text)
        else:
            done = ir.Reasoning(text=text, signature=part.signature, encrypted=part.encrypted,
                                redacted=part.redacted, source=NAME)
        out.append(ir.StreamPartEnd(block.index, done))

    def _finish(self, usage: ir.Usage | None) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = self._start()
        for idx in sorted(self._blocks):
            self._end(self._blocks.pop(idx), out)
        stop = self._stop or {}
        self._finished = True
        out.append(ir.StreamFinish(FINISH.get(stop.get("stopReason", "end_turn"), "stop"), usage,
                                   stop_sequence(stop.get("additionalModelResponseFields"))))
        return out

    def _error(self, code: str, message: str, status: int) -> ir.StreamError:
        self._finished = True
        return ir.StreamError(message=message, code=code, status=status)
