"""`chat.completion.chunk` stream → IR stream events.

Parts come out one at a time, in order, each ended before the next starts. Hosts stream
tool calls differently: the whole arguments in one chunk, id and name first and then
argument pieces, or (OpenRouter) empty pieces with the real arguments only at the end.
So only one tool call is open at a time; a later call waits while the open one has no
arguments yet, and every call ends with its complete arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from lockgate import ir

from .common import FINISH_IN, NAME, Json, decode_usage


@dataclass(slots=True)
class _Call:
    call_id: str = ""
    name: str = ""
    kind: str = "function"
    args: str = ""
    sent: int = 0  # characters of `args` already emitted as deltas
    part: int | None = None  # IR part index once started
    extra: Json | None = None


class ChatStreamDecoder:
    def __init__(self) -> None:
        self._started = False
        self._index = 0  # next IR part index
        self._open: tuple[str, int, ir.Text | ir.Reasoning | ir.Refusal] | None = None  # text-like part
        self._calls: dict[int, _Call] = {}  # by the chat tool_call index
        self._ended_calls: set[int] = set()
        self._finish: ir.FinishReason | None = None
        self._usage: ir.Usage | None = None
        self._done = False

    def feed(self, event: str | None, data: bytes) -> list[ir.StreamEvent]:
        if self._done:
            return []
        if data.strip() == b"[DONE]":
            return self._end()
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []  # keep-alive noise some hosts send
        if not isinstance(chunk, dict):
            return []
        out: list[ir.StreamEvent] = []
        if isinstance(chunk.get("error"), dict):
            self._done = True
            return [_error(chunk["error"])]
        if not self._started:
            self._started = True
            out.append(ir.StreamStart(id=str(chunk.get("id") or ""), model=str(chunk.get("model") or ""),
                                      created=int(chunk.get("created") or 0)))
        if chunk.get("usage"):
            self._usage = decode_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice, out)
        return out

    def close(self) -> list[ir.StreamEvent]:
        """Without `[DONE]`: a finish seen earlier still completes the stream."""
        return [] if self._done or self._finish is None else self._end()

    # -- internals

    def _choice(self, choice: Json, out: list[ir.StreamEvent]) -> None:
        raw_delta = choice.get("delta")
        delta: Json = raw_delta if isinstance(raw_delta, dict) else {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._text("reasoning", reasoning, out)
        if isinstance(delta.get("content"), str) and delta["content"]:
            self._text("text", delta["content"], out)
        if isinstance(delta.get("refusal"), str) and delta["refusal"]:
            self._text("refusal", delta["refusal"], out)
        for raw in delta.get("tool_calls") or []:
            if isinstance(raw, dict):
                self._tool_delta(raw, out)
        if isinstance(delta.get("function_call"), dict):  # legacy functions: one call
            self._tool_delta({"index": 0, "id": "call_legacy", "function": delta["function_call"]}, out)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self._close_text(out)
            self._end_calls(out)
            self._finish = FINISH_IN.get(reason, "stop")

    def _text(self, kind: str, piece: str, out: list[ir.StreamEvent]) -> None:
        if self._open is not None and self._open[0] != kind:
            self._close_text(out)
        if self._open is None:
            self._end_calls(out)  # text after calls: the calls are done
            self._open = (kind, self._index, _empty(kind))
            out.append(ir.StreamPartStart(self._index, _empty(kind)))  # its own object: the open one grows
            self._index += 1
        _, index, part = self._open
        part.text += piece
        out.append(ir.StreamPartDelta(index, piece, kind))  # type: ignore[arg-type]

    def _close_text(self, out: list[ir.StreamEvent]) -> None:
        if self._open is not None:
            out.append(ir.StreamPartEnd(self._open[1], self._open[2]))
            self._open = None

    def _tool_delta(self, raw: Json, out: list[ir.StreamEvent]) -> None:
        index = raw.get("index", 0)
        if not isinstance(index, int) or index in self._ended_calls:
            return
        self._close_text(out)
        call = self._calls.setdefault(index, _Call())
        call.call_id = call.call_id or str(raw.get("id") or "")
        if raw.get("type") == "custom" or isinstance(raw.get("custom"), dict):
            call.kind = "custom"
        body: Any = raw.get("custom") if call.kind == "custom" else raw.get("function")
        body = body if isinstance(body, dict) else {}
        call.name = call.name or str(body.get("name") or "")
        piece = body.get("input" if call.kind == "custom" else "arguments")
        if isinstance(piece, str):
            call.args += piece
        elif isinstance(piece, dict):  # a few hosts send the object itself
            call.args += orjson.dumps(piece).decode()
        extra = {k: v for k, v in raw.items() if k not in ("index", "id", "type", "function", "custom")}
        if extra:
            call.extra = {**(call.extra or {}), **extra}
        # A new call ends the open one, unless that one has no arguments yet (they may come last).
        for other in sorted(i for i in self._calls if i not in self._ended_calls):
            if other >= index or not self._calls[other].args:
                break
            self._end_call(other, out)
        self._advance(out)

    def _advance(self, out: list[ir.StreamEvent]) -> None:
        """Start the first pending call if none is open; stream what it has."""
        pending = sorted(i for i in self._calls if i not in self._ended_calls)
        if not pending:
            return
        call = self._calls[pending[0]]
        if call.part is None:
            call.part = self._index
            self._index += 1
            out.append(ir.StreamPartStart(call.part, self._tool_call(call, "")))
        if len(call.args) > call.sent:
            out.append(ir.StreamPartDelta(call.part, call.args[call.sent:], "arguments"))
            call.sent = len(call.args)

    def _end_call(self, index: int, out: list[ir.StreamEvent]) -> None:
        self._advance(out)  # the call to end is always the open one here
        call = self._calls[index]
        if call.part is None:
            return
        args = call.args or ("{}" if call.kind == "function" else "")
        if args != call.args:
            out.append(ir.StreamPartDelta(call.part, args, "arguments"))
        out.append(ir.StreamPartEnd(call.part, self._tool_call(call, args)))
        self._ended_calls.add(index)

    def _end_calls(self, out: list[ir.StreamEvent]) -> None:
        for index in sorted(self._calls):
            if index not in self._ended_calls:
                self._end_call(index, out)

    def _tool_call(self, call: _Call, args: str) -> ir.ToolCall:
        return ir.ToolCall(call.call_id, call.name, args, kind="custom" if call.kind == "custom" else "function",
                           extra=dict(call.extra or {}))

    def _end(self) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        self._close_text(out)
        self._end_calls(out)
        self._done = True
        if self._finish is None:
            return out  # no finish: the caller treats the stream as cut off
        out.append(ir.StreamFinish(self._finish, usage=self._usage))
        return out


def _empty(kind: str) -> ir.Text | ir.Reasoning | ir.Refusal:
    return ir.Text("") if kind == "text" else ir.Refusal("") if kind == "refusal" else ir.Reasoning(source=NAME)


def _error(err: Json) -> ir.StreamError:
    code = err.get("code") or err.get("type") or "upstream_error"
    status = err["status"] if isinstance(err.get("status"), int) else 502
    return ir.StreamError(message=str(err.get("message") or "upstream stream error"), code=str(code), status=status)
