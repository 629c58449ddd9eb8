"""A Responses provider's SSE stream → IR stream events.

IR parts are numbered in output order: each content part of a message (output_text or
refusal) is one part, each function_call, custom_tool_call and reasoning item one part, and
an item the IR does not model one `ir.Opaque`. A value that arrives whole in a `.done`
event without its deltas (peers #7) is still sent as a delta before the part ends, so
consumers that only accumulate deltas get it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from lockgate import ir
from lockgate.formats.openai_responses.common import MSG_META, NAME, Json, rest
from lockgate.formats.openai_responses.items import decode_call, decode_reasoning
from lockgate.formats.openai_responses.response import decode_usage

__all__ = ["ResponsesStreamDecoder"]

_ITEM_META_SKIP = ("type", "role", "content", "status")


@dataclass(slots=True)
class _Open:
    index: int  # IR part index
    kind: str  # text, refusal, call, reasoning
    sent: str = ""
    final: str | None = None  # the value a `.done` event gave
    extra: Json = field(default_factory=dict)


class ResponsesStreamDecoder:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key
        self._started = False
        self._next = 0
        self._items: dict[int, Json] = {}  # output_index → the added item (messages: its fields)
        self._parts: dict[tuple[int, int], _Open] = {}  # (output_index, content_index) → part
        self._meta_given: set[int] = set()
        self._saw_call = False
        self._ended = False

    def _new(self) -> int:
        self._next += 1
        return self._next - 1

    def _start(self, response: Any) -> list[ir.StreamEvent]:
        if self._started:
            return []
        self._started = True
        r = response if isinstance(response, dict) else {}
        return [ir.StreamStart(id=str(r.get("id") or ""), model=str(r.get("model") or ""),
                               created=int(r.get("created_at") or 0))]

    def feed(self, event: str | None, data: bytes) -> list[ir.StreamEvent]:
        if self._ended:
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type") or event or ""
        if kind in ("response.created", "response.in_progress", "response.queued"):
            return self._start(obj.get("response"))
        out = self._start(obj.get("response")) if not self._started else []
        handler = _HANDLERS.get(kind)
        if handler is not None:
            out.extend(handler(self, obj))
        return out

    def close(self) -> list[ir.StreamEvent]:
        return []

    # -- items -----------------------------------------------------------------------------------

    def _item_added(self, obj: Json) -> list[ir.StreamEvent]:
        item, oi = obj.get("item") or {}, int(obj.get("output_index", 0))
        kind = item.get("type")
        self._items[oi] = item
        if kind in ("function_call", "custom_tool_call"):
            self._saw_call = True
            call = decode_call({**item, "arguments": "", "input": ""}, "item")
            self._parts[(oi, -1)] = _Open(self._new(), "call")
            return [ir.StreamPartStart(self._parts[(oi, -1)].index, call)]
        return []

    def _reasoning_part(self, obj: Json) -> tuple[_Open | None, list[ir.StreamEvent]]:
        """The reasoning part of an item, started at its first delta: a reasoning item that
        turns out to be an envelope for a call's extra is no part at all."""
        oi = int(obj.get("output_index", 0))
        item = self._items.get(oi)
        if item is None or item.get("type") != "reasoning":
            return None, []
        p = self._parts.get((oi, -1))
        if p is not None:
            return p, []
        p = self._parts[(oi, -1)] = _Open(self._new(), "reasoning", extra={"summaries": 0})
        return p, [ir.StreamPartStart(p.index, ir.Reasoning(source=NAME, item_id=item.get("id")))]

    def _text_extra(self, oi: int) -> Json:
        """The first text of a message carries the message's own fields (id, phase)."""
        if oi in self._meta_given:
            return {}
        self._meta_given.add(oi)
        return {MSG_META: rest(self._items.get(oi, {}), _ITEM_META_SKIP)}

    def _content_start(self, oi: int, ci: int, refusal: bool) -> list[ir.StreamEvent]:
        if (oi, ci) in self._parts:
            return []
        p = _Open(self._new(), "refusal" if refusal else "text", extra={} if refusal else self._text_extra(oi))
        self._parts[(oi, ci)] = p
        part: ir.Text | ir.Refusal = ir.Refusal("") if refusal else ir.Text("", extra=dict(p.extra))
        return [ir.StreamPartStart(p.index, part)]

    def _part_added(self, obj: Json) -> list[ir.StreamEvent]:
        part = obj.get("part") or {}
        if part.get("type") not in ("output_text", "refusal"):
            return []
        return self._content_start(int(obj.get("output_index", 0)), int(obj.get("content_index", 0)),
                                   part.get("type") == "refusal")

    def _text_delta(self, obj: Json) -> list[ir.StreamEvent]:
        oi, ci = int(obj.get("output_index", 0)), int(obj.get("content_index", 0))
        refusal = obj.get("type") == "response.refusal.delta"
        out = self._content_start(oi, ci, refusal)
        p = self._parts[(oi, ci)]
        delta = str(obj.get("delta", ""))
        p.sent += delta
        out.append(ir.StreamPartDelta(p.index, delta, "refusal" if refusal else "text"))
        return out

    def _text_done(self, obj: Json) -> list[ir.StreamEvent]:
        p = self._parts.get((int(obj.get("output_index", 0)), int(obj.get("content_index", 0))))
        if p is not None:
            p.final = str(obj.get("refusal" if obj.get("type") == "response.refusal.done" else "text", ""))
        return []

    def _catch_up(self, p: _Open, full: str, kind: str) -> list[ir.StreamEvent]:
        if full == p.sent or not full.startswith(p.sent):
            return []
        delta, p.sent = full[len(p.sent):], full
        return [ir.StreamPartDelta(p.index, delta, kind)]  # type: ignore[arg-type]

    def _end_content(self, oi: int, ci: int, part: Json | None) -> list[ir.StreamEvent]:
        p = self._parts.pop((oi, ci), None)
        if p is None:
            return []
        part = part or {}
        if p.kind == "refusal":
            text = str(part.get("refusal", p.final if p.final is not None else p.sent))
            return [*self._catch_up(p, text, "refusal"), ir.StreamPartEnd(p.index, ir.Refusal(text))]
        text = str(part.get("text", p.final if p.final is not None else p.sent))
        extra = {**rest(part, ("type", "text")), **p.extra} if part else dict(p.extra)
        return [*self._catch_up(p, text, "text"), ir.StreamPartEnd(p.index, ir.Text(text, extra=extra))]

    def _part_done(self, obj: Json) -> list[ir.StreamEvent]:
        return self._end_content(int(obj.get("output_index", 0)), int(obj.get("content_index", 0)),
                                 obj.get("part"))

    def _args_delta(self, obj: Json) -> list[ir.StreamEvent]:
        p = self._parts.get((int(obj.get("output_index", 0)), -1))
        if p is None or p.kind != "call":
            return []
        delta = str(obj.get("delta", ""))
        p.sent += delta
        return [ir.StreamPartDelta(p.index, delta, "arguments")]

    def _args_done(self, obj: Json) -> list[ir.StreamEvent]:
        p = self._parts.get((int(obj.get("output_index", 0)), -1))
        if p is None or p.kind != "call":
            return []
        p.final = str(obj.get("arguments", obj.get("input", "")))
        return self._catch_up(p, p.final, "arguments")

    def _summary_part(self, obj: Json) -> list[ir.StreamEvent]:
        p, out = self._reasoning_part(obj)
        if p is None:
            return []
        p.extra["summaries"] += 1
        if p.extra["summaries"] > 1:  # a paragraph break, for consumers that only read the text
            out.append(ir.StreamPartDelta(p.index, "\n\n", "summary"))
        return out

    def _reasoning_delta(self, obj: Json) -> list[ir.StreamEvent]:
        p, out = self._reasoning_part(obj)
        if p is None:
            return []
        summary = obj.get("type") == "response.reasoning_summary_text.delta"
        out.append(ir.StreamPartDelta(p.index, str(obj.get("delta", "")), "summary" if summary else "reasoning"))
        return out

    def _item_done(self, obj: Json) -> list[ir.StreamEvent]:
        item, oi = obj.get("item") or {}, int(obj.get("output_index", 0))
        kind = item.get("type")
        out: list[ir.StreamEvent] = []
        if kind == "message":
            self._items[oi] = item
            content = item.get("content") or []
            for ci in sorted(c for o, c in self._parts if o == oi and c >= 0):
                out += self._end_content(oi, ci, content[ci] if ci < len(content) else None)
            return out
        p = self._parts.pop((oi, -1), None)
        if kind in ("function_call", "custom_tool_call"):
            call = decode_call(item, "item")
            if p is None:
                self._saw_call = True
                p = _Open(self._new(), "call")
                out.append(ir.StreamPartStart(p.index, ir.ToolCall(call.call_id, call.name, "", kind=call.kind,
                                                                   namespace=call.namespace, item_id=call.item_id)))
            return [*out, *self._catch_up(p, call.arguments, "arguments"), ir.StreamPartEnd(p.index, call)]
        if kind == "reasoning":
            decoded = decode_reasoning(item, "item", self._key)
            if not isinstance(decoded, ir.Reasoning):
                return []
            if p is None:
                p = _Open(self._new(), "reasoning")
                out.append(ir.StreamPartStart(p.index, ir.Reasoning(source=decoded.source, item_id=decoded.item_id)))
            return [*out, ir.StreamPartEnd(p.index, decoded)]
        opaque = ir.Opaque(raw=item, source=NAME)
        index = self._new()
        return [ir.StreamPartStart(index, opaque), ir.StreamPartEnd(index, opaque)]

    # -- the end -----------------------------------------------------------------------------------

    def _completed(self, obj: Json) -> list[ir.StreamEvent]:
        response = obj.get("response") or {}
        self._ended = True
        status = response.get("status") or ("incomplete" if obj.get("type") == "response.incomplete" else "completed")
        reason: ir.FinishReason = "tool_calls" if self._saw_call else "stop"
        if status == "incomplete":
            details = response.get("incomplete_details") or {}
            reason = "content_filter" if details.get("reason") == "content_filter" else "length"
        return [ir.StreamFinish(reason, usage=decode_usage(response.get("usage")))]

    def _failed(self, obj: Json) -> list[ir.StreamEvent]:
        self._ended = True
        error = (obj.get("response") or {}).get("error") if obj.get("type") == "response.failed" else obj
        error = error if isinstance(error, dict) else {}
        return [ir.StreamError(str(error.get("message") or "The upstream response failed."),
                               code=str(error.get("code") or "upstream_error"))]


_HANDLERS: dict[str, Any] = {
    "response.output_item.added": ResponsesStreamDecoder._item_added,
    "response.content_part.added": ResponsesStreamDecoder._part_added,
    "response.output_text.delta": ResponsesStreamDecoder._text_delta,
    "response.refusal.delta": ResponsesStreamDecoder._text_delta,
    "response.output_text.done": ResponsesStreamDecoder._text_done,
    "response.refusal.done": ResponsesStreamDecoder._text_done,
    "response.content_part.done": ResponsesStreamDecoder._part_done,
    "response.function_call_arguments.delta": ResponsesStreamDecoder._args_delta,
    "response.custom_tool_call_input.delta": ResponsesStreamDecoder._args_delta,
    "response.function_call_arguments.done": ResponsesStreamDecoder._args_done,
    "response.custom_tool_call_input.done": ResponsesStreamDecoder._args_done,
    "response.reasoning_summary_part.added": ResponsesStreamDecoder._summary_part,
    "response.reasoning_summary_text.delta": ResponsesStreamDecoder._reasoning_delta,
    "response.reasoning_text.delta": ResponsesStreamDecoder._reasoning_delta,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
    "response.completed": ResponsesStreamDecoder._completed,
    "response.incomplete": ResponsesStreamDecoder._completed,
    "response.failed": ResponsesStreamDecoder._failed,
    "error": ResponsesStreamDecoder._failed,
}
