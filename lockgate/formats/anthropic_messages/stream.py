"""Anthropic Messages streams: the provider-side decoder and the client-side encoder.

The event sequence (https://docs.anthropic.com/en/api/messages-streaming): message_start,
then per content block content_block_start / content_block_delta… / content_block_stop,
then message_delta (stop_reason, usage) and message_stop; `ping` anywhere; `error` mid-stream
(e.g. overloaded_error) ends it instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from lockgate import ir
from lockgate.formats.anthropic_messages import blocks as B
from lockgate.formats.anthropic_messages.response import decode_usage, encode_usage, finish_reason, stop_reason
from lockgate.formats.sse import sse_event

__all__ = ["ERROR_STATUS", "AnthropicStreamDecoder", "AnthropicStreamEncoder", "error_type"]

Json = dict[str, Any]

# Anthropic error types and their HTTP statuses (https://docs.anthropic.com/en/api/errors).
ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "timeout_error": 504, "overloaded_error": 529,
}
_TYPE_BY_STATUS = {s: t for t, s in ERROR_STATUS.items()} | {502: "api_error", 503: "overloaded_error"}


def error_type(err: ir.StreamError) -> str:
    if err.code in ERROR_STATUS:
        return err.code
    return _TYPE_BY_STATUS.get(err.status, "api_error")


# -- decoder (provider side) -------------------------------------------------------------------

@dataclass
class _Open:
    index: int
    part: ir.Text | ir.ToolCall | ir.Reasoning
    buf: list[str] = field(default_factory=list)
    start_input: Any = None


class AnthropicStreamDecoder:
    """Anthropic SSE events → IR stream events."""

    def __init__(self) -> None:
        self._open: dict[int, _Open] = {}
        self._next = 0
        self._usage: Json = {}
        self._stop: str | None = None
        self._seq: str | None = None

    def feed(self, event: str | None, data: bytes) -> list[ir.StreamEvent]:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return [ir.StreamError("upstream sent an event that is not JSON", code="api_error", status=502)]
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type") or event
        handler = _HANDLERS.get(str(kind))
        return handler(self, obj) if handler is not None else []

    def close(self) -> list[ir.StreamEvent]:
        return []

    def _message_start(self, obj: Json) -> list[ir.StreamEvent]:
        msg = obj.get("message") or {}
        self._usage = dict(msg.get("usage") or {})
        return [ir.StreamStart(id=str(msg.get("id", "")), model=str(msg.get("model", "")), created=int(time.time()),
                               usage=decode_usage(self._usage) if self._usage else None)]

    def _block_start(self, obj: Json) -> list[ir.StreamEvent]:
        block = obj.get("content_block") or {}
        kind = block.get("type")
        part: ir.Text | ir.ToolCall | ir.Reasoning
        if kind == "text":
            part = ir.Text("", extra={k: v for k, v in block.items() if k not in ("type", "text") and v is not None})
        elif kind == "tool_use":
            part = ir.ToolCall(call_id=str(block.get("id", "")), name=str(block.get("name", "")), arguments="")
        elif kind == "thinking":
            part = ir.Reasoning(source=B.NAME, signature=block.get("signature") or None)
        elif kind == "redacted_thinking":
            part = ir.Reasoning(encrypted=str(block.get("data", "")), redacted=True, source=B.NAME)
        else:
            return []  # server tool blocks: the IR stream has no part for them
        st = _Open(self._next, part, start_input=block.get("input"))
        self._next += 1
        self._open[int(obj.get("index", 0))] = st
        if isinstance(part, ir.Text) and block.get("text"):
            st.buf.append(block["text"])
        return [ir.StreamPartStart(st.index, _copy(part))]

    def _block_delta(self, obj: Json) -> list[ir.StreamEvent]:
        st = self._open.get(int(obj.get("index", 0)))
        delta = obj.get("delta") or {}
        if st is None:
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            st.buf.append(delta.get("text", ""))
            return [ir.StreamPartDelta(st.index, delta.get("text", ""), "text")]
        if kind == "input_json_delta":
            piece = delta.get("partial_json", "")
            st.buf.append(piece)
            return [ir.StreamPartDelta(st.index, piece, "arguments")] if piece else []
        if kind == "thinking_delta":
            st.buf.append(delta.get("thinking", ""))
            return [ir.StreamPartDelta(st.index, delta.get("thinking", ""), "reasoning")]
        if kind == "signature_delta" and isinstance(st.part, ir.Reasoning):
            st.part.signature = delta.get("signature")
        elif kind == "citations_delta" and isinstance(st.part, ir.Text):
            st.part.extra.setdefault("citations", []).append(delta.get("citation"))
        return []

    def _block_stop(self, obj: Json) -> list[ir.StreamEvent]:
        st = self._open.pop(int(obj.get("index", 0)), None)
        if st is None:
            return []
        part = st.part
        text = "".join(st.buf)
        if isinstance(part, ir.Text):
            part.text = text
        elif isinstance(part, ir.ToolCall):
            # An empty buffer means the input came whole in content_block_start ({} usually).
            part.arguments = text or orjson.dumps(st.start_input if st.start_input is not None else {}).decode()
        elif not part.redacted:
            part.text = text
        return [ir.StreamPartEnd(st.index, part)]

    def _message_delta(self, obj: Json) -> list[ir.StreamEvent]:
        delta = obj.get("delta") or {}
        self._stop = delta.get("stop_reason") or self._stop
        self._seq = delta.get("stop_sequence") or self._seq
        # Counts on message_delta are cumulative: they replace message_start's, absent ones keep them.
        for key, value in (obj.get("usage") or {}).items():
            if value is not None:
                self._usage[key] = value
        return []

    def _message_stop(self, obj: Json) -> list[ir.StreamEvent]:
        return [ir.StreamFinish(finish_reason(self._stop), decode_usage(self._usage), self._seq)]

    def _error(self, obj: Json) -> list[ir.StreamEvent]:
        err = obj.get("error") or {}
        kind = str(err.get("type", "api_error"))
        return [ir.StreamError(str(err.get("message", "upstream error")), code=kind,
                               status=ERROR_STATUS.get(kind, 500))]


_HANDLERS = {
    "message_start": AnthropicStreamDecoder._message_start,
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "content_block_stop": AnthropicStreamDecoder._block_stop,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
    "error": AnthropicStreamDecoder._error,
}


def _copy(part: ir.Text | ir.ToolCall | ir.Reasoning) -> ir.Text | ir.ToolCall | ir.Reasoning:
    if isinstance(part, ir.Text):
        return ir.Text(part.text, extra=dict(part.extra))
    if isinstance(part, ir.ToolCall):
        return ir.ToolCall(part.call_id, part.name, part.arguments)
    return ir.Reasoning(encrypted=part.encrypted, redacted=part.redacted, source=part.source)


# -- encoder (client side) ---------------------------------------------------------------------

@dataclass
class _Block:
    index: int  # Anthropic block index
    kind: str  # text, tool_use, thinking, redacted
    deltas: bool = False
    started: bool = True


class AnthropicStreamEncoder:
    """IR stream events → the event sequence the Anthropic SDK expects."""

    def __init__(self, req: ir.Request) -> None:
        self._model = req.model
        self._started = False
        self._finished = False
        self._blocks: dict[int, _Block] = {}
        self._next = 0

    def feed(self, event: ir.StreamEvent) -> bytes:
        if self._finished:
            return b""
        if isinstance(event, ir.StreamError):
            return self.finish(event)
        if isinstance(event, ir.StreamStart):
            return self._start(event)
        out = b"" if self._started else self._start(ir.StreamStart(id="", model=self._model))
        if isinstance(event, ir.StreamPartStart):
            return out + self._part_start(event)
        if isinstance(event, ir.StreamPartDelta):
            return out + self._part_delta(event)
        if isinstance(event, ir.StreamPartEnd):
            return out + self._part_end(event)
        return out + self._finish(event)

    def finish(self, error: ir.StreamError | None = None) -> bytes:
        """Anthropic ends a failed stream with an `error` event and no message_stop."""
        if self._finished:
            return b""
        self._finished = True
        err = error or ir.StreamError("the upstream stream ended before completion", code="api_error", status=502)
        out = b"".join(self._stop_block(i) for i in list(self._blocks))
        return out + sse_event("error", {"type": "error", "error": {"type": error_type(err), "message": err.message}})

    def _start(self, ev: ir.StreamStart) -> bytes:
        if self._started:
            return b""
        self._started = True
        usage = encode_usage(ev.usage, output=False)
        usage["output_tokens"] = ev.usage.output_tokens if ev.usage else 0
        rid = ev.id if ev.id.startswith("msg_") else "msg_" + (ev.id or "lockgate")
        msg: Json = {"id": rid, "type": "message", "role": "assistant", "model": ev.model or self._model, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": usage}
        return sse_event("message_start", {"type": "message_start", "message": msg})

    def _open(self, ir_index: int, kind: str, block: Json | None) -> bytes:
        st = _Block(self._next, kind, started=block is not None)
        self._next += 1
        self._blocks[ir_index] = st
        if block is None:
            return b""
        return sse_event("content_block_start", {"type": "content_block_start", "index": st.index,
                                                 "content_block": block})

    def _part_start(self, ev: ir.StreamPartStart) -> bytes:
        part = ev.part
        if isinstance(part, ir.ToolCall):
            return self._open(ev.index, "tool_use", {"type": "tool_use", "id": B.tool_id(part.call_id),
                                                     "name": part.name, "input": {}})
        if isinstance(part, ir.Reasoning):
            if part.redacted:
                return self._open(ev.index, "redacted", None)  # its data comes with the end
            return self._open(ev.index, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
        if isinstance(part, ir.Text | ir.Refusal):
            return self._open(ev.index, "text", {"type": "text", "text": ""})
        return b""  # a part Anthropic has no block for (another format's opaque item)

    def _delta(self, st: _Block, delta: Json) -> bytes:
        st.deltas = True
        return sse_event("content_block_delta", {"type": "content_block_delta", "index": st.index, "delta": delta})

    def _part_delta(self, ev: ir.StreamPartDelta) -> bytes:
        st = self._blocks.get(ev.index)
        if st is None or not ev.text:
            return b""
        if st.kind == "text" and ev.kind in ("text", "refusal"):
            return self._delta(st, {"type": "text_delta", "text": ev.text})
        if st.kind == "tool_use" and ev.kind == "arguments":
            return self._delta(st, {"type": "input_json_delta", "partial_json": ev.text})
        if st.kind == "thinking" and ev.kind in ("reasoning", "summary"):
            return self._delta(st, {"type": "thinking_delta", "thinking": ev.text})
        return b""

    def _part_end(self, ev: ir.StreamPartEnd) -> bytes:
        st = self._blocks.get(ev.index)
        part = ev.part
        if st is None:
            return b""
        out = b""
        if st.kind == "redacted" and isinstance(part, ir.Reasoning):
            block = B.encode_reasoning(part, foreign=True) or {"type": "thinking", "thinking": "", "signature": ""}
            st.started = True
            out += sse_event("content_block_start", {"type": "content_block_start", "index": st.index,
                                                     "content_block": block})
        elif st.kind == "text" and isinstance(part, ir.Text | ir.Refusal) and part.text and not st.deltas:
            out += self._delta(st, {"type": "text_delta", "text": part.text})
        elif st.kind == "tool_use" and isinstance(part, ir.ToolCall) and not st.deltas:
            # The upstream sent the arguments only whole: one delta carries them all.
            args = B.tool_input(part)
            if args:
                out += self._delta(st, {"type": "input_json_delta", "partial_json": orjson.dumps(args).decode()})
        elif st.kind == "thinking" and isinstance(part, ir.Reasoning):
            if not st.deltas and B.shown_text(part):
                out += self._delta(st, {"type": "thinking_delta", "thinking": B.shown_text(part)})
            sig = part.signature if part.source == B.NAME else (
                B.foreign_signature(part) if B.encode_reasoning(part, foreign=True) else None)
            if sig:
                out += self._delta(st, {"type": "signature_delta", "signature": sig})
        return out + self._stop_block(ev.index)

    def _stop_block(self, ir_index: int) -> bytes:
        st = self._blocks.pop(ir_index)
        if not st.started:
            return b""
        return sse_event("content_block_stop", {"type": "content_block_stop", "index": st.index})

    def _finish(self, ev: ir.StreamFinish) -> bytes:
        out = b"".join(self._stop_block(i) for i in list(self._blocks))
        self._finished = True
        usage = encode_usage(ev.usage) if ev.usage else {"output_tokens": 0}
        delta = {"stop_reason": stop_reason(ev.finish_reason, ev.stop_sequence), "stop_sequence": ev.stop_sequence}
        out += sse_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + sse_event("message_stop", {"type": "message_stop"})
