"""IR stream events → the Responses SSE sequence a client like Codex consumes.

response.created, response.in_progress, then per output item output_item.added, its content
events, output_item.done; then exactly one of response.completed / response.incomplete /
response.failed. Every event carries `sequence_number`. Codex ignores items that only
appear in the final response and drops deltas without an open item, so every item gets its
added/done pair; arguments that arrive whole get one synthesized delta (peers #7), and a
stream that ends without a finish ends in response.failed, never in silence (#18).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from lockgate import ir
from lockgate.formats.envelope import seal_call_extra
from lockgate.formats.openai_responses.common import MSG_META, NAME, Json, public, stable_id
from lockgate.formats.openai_responses.items import encode_call, encode_reasoning, envelope_reasoning
from lockgate.formats.openai_responses.response import (
    finish_status,
    foreign_call_source,
    output_part,
    response_object,
)
from lockgate.formats.sse import sse_event

__all__ = ["ResponsesStreamEncoder"]

_UNKNOWN = "unknown"  # a foreign call extra whose format the encoder was not told


@dataclass(slots=True)
class _Item:
    """An output item between its added and done events."""

    output_index: int
    item_id: str
    kind: str  # message, call, reasoning
    part: ir.Part | None = None  # the IR part (calls, reasoning) as started
    content: list[Json] = field(default_factory=list)  # message: content parts done so far
    meta: Json = field(default_factory=dict)  # message: upstream fields (status, phase)
    ours: bool = False  # reasoning: produced by this format (else: an envelope)
    sent: str = ""  # reasoning: summary text sent for the open summary part
    summary_open: bool = False
    summary_count: int = 0


@dataclass(slots=True)
class _Part:
    item: _Item
    content_index: int = 0
    sent: str = ""  # deltas sent so far


class ResponsesStreamEncoder:
    def __init__(self, req: ir.Request, key: bytes | None = None, provider: str | None = None) -> None:
        """`provider`: the format the IR events come from, when known (the gateway knows it):
        a tool call's foreign `extra` is sealed under that name so it goes back there."""
        self._req = req
        self._key = key
        self._provider = provider
        self._seq = 0
        self._id = ""
        self._model = req.model
        self._created = 0
        self._start_usage: ir.Usage | None = None
        self._count = 0  # output indexes handed out
        self._done: dict[int, Json] = {}
        self._message: _Item | None = None
        self._parts: dict[int, _Part] = {}
        self._ended = False

    # -- plumbing ----------------------------------------------------------------------------

    def _ev(self, kind: str, **fields: object) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return sse_event(kind, payload)

    def _response(self, status: str, usage: ir.Usage | None = None, incomplete: Json | None = None,
                  error: Json | None = None) -> Json:
        output = [self._done[i] for i in sorted(self._done)]
        return response_object(self._req, id=self._id, model=self._model, created=self._created, status=status,
                               output=output, usage=usage, incomplete=incomplete, error=error)

    def _start(self, id: str = "", model: str = "", created: int = 0) -> bytes:
        self._id = id or "resp_" + uuid.uuid4().hex
        self._model = model or self._req.model
        self._created = created or int(time.time())
        snapshot = self._response("in_progress")
        return self._ev("response.created", response=snapshot) + self._ev("response.in_progress", response=snapshot)

    def _ensure_started(self) -> bytes:
        return b"" if self._id else self._start()

    def _new_index(self) -> int:
        self._count += 1
        return self._count - 1

    def _item_done(self, item: _Item, body: Json) -> bytes:
        self._done[item.output_index] = body
        return self._ev("response.output_item.done", output_index=item.output_index, item=body)

    # -- messages ------------------------------------------------------------------------------

    def _open_message(self, first: ir.Text | ir.Refusal) -> bytes:
        meta = first.extra.get(MSG_META) if isinstance(first, ir.Text) else None
        meta = dict(meta) if isinstance(meta, dict) else {}
        index = self._new_index()
        item_id = meta.pop("id", None) or stable_id("msg_", self._id, index)
        self._message = _Item(index, item_id, "message", meta=meta)
        added: Json = {"id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
        return self._ev("response.output_item.added", output_index=index, item=added)

    def _close_message(self) -> bytes:
        msg, self._message = self._message, None
        if msg is None:
            return b""
        out = b""
        for index, p in list(self._parts.items()):  # a text part left open: end it with what it has
            if p.item is msg:
                out += self._end_text(index, ir.Text(p.sent))
        body: Json = {"id": msg.item_id, "type": "message", "status": "completed", "role": "assistant",
                      "content": msg.content}
        body.update(msg.meta)
        return out + self._item_done(msg, body)

    def _part_ref(self, p: _Part) -> Json:
        return {"item_id": p.item.item_id, "output_index": p.item.output_index, "content_index": p.content_index}

    def _start_text(self, index: int, part: ir.Text | ir.Refusal) -> bytes:
        out = b""
        if self._message is None or (isinstance(part, ir.Text) and MSG_META in part.extra):
            out += self._close_message() + self._open_message(part)
        assert self._message is not None
        msg = self._message
        p = _Part(msg, content_index=len(msg.content))
        self._parts[index] = p
        empty = output_part(ir.Refusal("") if isinstance(part, ir.Refusal) else ir.Text(""))
        msg.content.append(empty)  # placeholder: content_index stays right for the next part
        return out + self._ev("response.content_part.added", **self._part_ref(p), part=empty)

    def _end_text(self, index: int, part: ir.Text | ir.Refusal) -> bytes:
        p = self._parts.pop(index)
        refusal = isinstance(part, ir.Refusal)
        out = self._catch_up(p, part.text, "response.refusal.delta" if refusal else "response.output_text.delta")
        done = output_part(part)
        p.item.content[p.content_index] = done
        if refusal:
            out += self._ev("response.refusal.done", **self._part_ref(p), refusal=part.text)
        else:
            out += self._ev("response.output_text.done", **self._part_ref(p), text=part.text, logprobs=[])
        return out + self._ev("response.content_part.done", **self._part_ref(p), part=done)

    def _catch_up(self, p: _Part, full: str, kind: str) -> bytes:
        """Send what the deltas did not: the whole value when none came (#7), or the rest."""
        sent = p.sent
        if full == sent or not full.startswith(sent):
            return b""
        p.sent = full
        ref = self._part_ref(p)
        if kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
            ref.pop("content_index")
        extra: Json = {"logprobs": []} if kind == "response.output_text.delta" else {}
        return self._ev(kind, **ref, delta=full[len(sent):], **extra)

    # -- calls and reasoning --------------------------------------------------------------------

    def _start_call(self, index: int, call: ir.ToolCall) -> bytes:
        out = self._close_message()
        n = self._new_index()
        item_id = call.item_id or stable_id("ctc_" if call.kind == "custom" else "fc_", self._id, n)
        item = _Item(n, item_id, "call", part=call)
        self._parts[index] = _Part(item)
        added: Json = {"id": item_id, "type": "custom_tool_call" if call.kind == "custom" else "function_call",
                       "call_id": call.call_id, "name": call.name}
        if call.namespace is not None:
            added["namespace"] = call.namespace
        if call.kind == "custom":
            added["input"] = ""
        else:
            added.update(arguments="", status="in_progress")
        return out + self._ev("response.output_item.added", output_index=n, item=added)

    def _end_call(self, index: int, call: ir.ToolCall) -> bytes:
        p = self._parts.pop(index)
        custom = call.kind == "custom"
        kind = "response.custom_tool_call_input" if custom else "response.function_call_arguments"
        out = self._catch_up(p, call.arguments, kind + ".delta")
        ref = {"item_id": p.item.item_id, "output_index": p.item.output_index}
        if custom:
            out += self._ev(kind + ".done", **ref, input=call.arguments)
        else:
            out += self._ev(kind + ".done", **ref, name=call.name, arguments=call.arguments)
        source = foreign_call_source(call, self._provider or _UNKNOWN)
        body = encode_call(call, ours=False)
        if source is None:  # decoded by this format: its own fields go back
            body.update(public(call.extra))
        body = {"id": p.item.item_id, **{k: v for k, v in body.items() if k != "id"}}
        if not custom:
            body["status"] = "completed"
        out += self._item_done(p.item, body)
        if source is not None:
            out += self._call_envelope(call, source)
        return out

    def _call_envelope(self, call: ir.ToolCall, source: str) -> bytes:
        n = self._new_index()
        item = _Item(n, stable_id("rs_", self._id, n), "reasoning")
        body = {"id": item.item_id, "type": "reasoning", "summary": [],
                "encrypted_content": seal_call_extra(call, source, self._key)}
        added = {"id": item.item_id, "type": "reasoning", "summary": []}
        return self._ev("response.output_item.added", output_index=n, item=added) + self._item_done(item, body)

    def _start_reasoning(self, index: int, r: ir.Reasoning) -> bytes:
        out = self._close_message()
        n = self._new_index()
        ours = r.source == NAME
        item_id = (r.item_id if ours else None) or stable_id("rs_", self._id, n)
        item = _Item(n, item_id, "reasoning", part=r, ours=ours)
        self._parts[index] = _Part(item)
        added = {"id": item_id, "type": "reasoning", "summary": []}
        return out + self._ev("response.output_item.added", output_index=n, item=added)

    def _summary_delta(self, item: _Item, text: str) -> bytes:
        ref = {"item_id": item.item_id, "output_index": item.output_index}
        out = b""
        if not item.summary_open:
            item.summary_open, item.sent = True, ""
            part = {"type": "summary_text", "text": ""}
            out += self._ev("response.reasoning_summary_part.added", **ref, summary_index=item.summary_count,
                            part=part)
        item.sent += text
        return out + self._ev("response.reasoning_summary_text.delta", **ref, summary_index=item.summary_count,
                              delta=text)

    def _summary_done(self, item: _Item, text: str) -> bytes:
        ref = {"item_id": item.item_id, "output_index": item.output_index, "summary_index": item.summary_count}
        item.summary_open = False
        item.summary_count += 1
        return (self._ev("response.reasoning_summary_text.done", **ref, text=text)
                + self._ev("response.reasoning_summary_part.done", **ref, part={"type": "summary_text", "text": text}))

    def _end_reasoning(self, index: int, r: ir.Reasoning) -> bytes:
        p = self._parts.pop(index)
        item = p.item
        body = encode_reasoning(r, item.item_id) if item.ours else envelope_reasoning(r, item.item_id, self._key)
        shown = [s["text"] for s in body["summary"]]
        out = b""
        for i, text in enumerate(shown):
            if i >= item.summary_count:
                if not item.summary_open:
                    out += self._summary_delta(item, text)
                out += self._summary_done(item, text)
        if item.summary_open:  # deltas came but the final item has no summary text for them
            out += self._summary_done(item, item.sent)
        if item.ours and r.text:
            ref = {"item_id": item.item_id, "output_index": item.output_index, "content_index": 0}
            out += self._ev("response.reasoning_text.done", **ref, text=r.text)
        body = {"id": item.item_id, **{k: v for k, v in body.items() if k != "id"}}
        return out + self._item_done(item, body)

    # -- the interface ---------------------------------------------------------------------------

    def feed(self, event: ir.StreamEvent) -> bytes:
        if self._ended:
            return b""
        if isinstance(event, ir.StreamStart):
            self._start_usage = event.usage
            return b"" if self._id else self._start(event.id, event.model, event.created)
        if isinstance(event, ir.StreamError):
            return self.finish(event)
        out = self._ensure_started()
        if isinstance(event, ir.StreamPartStart):
            part = event.part
            if isinstance(part, ir.Text | ir.Refusal):
                out += self._start_text(event.index, part)
            elif isinstance(part, ir.ToolCall):
                out += self._start_call(event.index, part)
            elif isinstance(part, ir.Reasoning):
                out += self._start_reasoning(event.index, part)
        elif isinstance(event, ir.StreamPartDelta):
            out += self._delta(event)
        elif isinstance(event, ir.StreamPartEnd):
            out += self._end(event)
        elif isinstance(event, ir.StreamFinish):
            out += self._finish(event)
        return out

    def _delta(self, ev: ir.StreamPartDelta) -> bytes:
        p = self._parts.get(ev.index)
        if p is None or not ev.text:
            return b""
        item = p.item
        if item.kind == "message":
            p.sent += ev.text
            if ev.kind == "refusal":
                return self._ev("response.refusal.delta", **self._part_ref(p), delta=ev.text)
            return self._ev("response.output_text.delta", **self._part_ref(p), delta=ev.text, logprobs=[])
        if item.kind == "call":
            p.sent += ev.text
            custom = isinstance(item.part, ir.ToolCall) and item.part.kind == "custom"
            kind = "response.custom_tool_call_input.delta" if custom else "response.function_call_arguments.delta"
            return self._ev(kind, item_id=item.item_id, output_index=item.output_index, delta=ev.text)
        if item.ours and ev.kind == "reasoning":
            ref = {"item_id": item.item_id, "output_index": item.output_index, "content_index": 0}
            return self._ev("response.reasoning_text.delta", **ref, delta=ev.text)
        return self._summary_delta(item, ev.text)  # foreign thinking shows as the summary

    def _end(self, ev: ir.StreamPartEnd) -> bytes:
        part = ev.part
        if isinstance(part, ir.Opaque):
            if part.source != NAME:
                return b""
            out = self._close_message()
            item = _Item(self._new_index(), str(part.raw.get("id", "")), "opaque")
            added = self._ev("response.output_item.added", output_index=item.output_index, item=part.raw)
            return out + added + self._item_done(item, part.raw)
        if ev.index not in self._parts:  # an end without a start: start it now
            if isinstance(part, ir.Text | ir.Refusal):
                start = self._start_text(ev.index, ir.Text("", extra=part.extra) if isinstance(part, ir.Text) else part)
            elif isinstance(part, ir.ToolCall):
                start = self._start_call(ev.index, part)
            elif isinstance(part, ir.Reasoning):
                start = self._start_reasoning(ev.index, part)
            else:
                return b""
            return start + self._end(ev)
        if isinstance(part, ir.Text | ir.Refusal):
            return self._end_text(ev.index, part)
        if isinstance(part, ir.ToolCall):
            return self._end_call(ev.index, part)
        if isinstance(part, ir.Reasoning):
            return self._end_reasoning(ev.index, part)
        return b""

    def _usage(self, usage: ir.Usage | None) -> ir.Usage | None:
        start = self._start_usage
        if usage is None or start is None:
            return usage or start
        if usage.input_tokens == 0 and start.input_tokens:  # input counted at the start only
            usage.input_tokens, usage.cached_input_tokens = start.input_tokens, start.cached_input_tokens
            usage.cache_write_tokens = usage.cache_write_tokens or start.cache_write_tokens
        return usage

    def _close_all(self) -> bytes:
        out = self._close_message()
        for index, p in list(self._parts.items()):  # parts left open: end them with what they have
            if isinstance(p.item.part, ir.ToolCall):
                call = p.item.part
                out += self._end_call(index, ir.ToolCall(
                    call.call_id, call.name, p.sent, kind=call.kind, namespace=call.namespace,
                    item_id=call.item_id, extra=call.extra, extra_source=call.extra_source))
            elif isinstance(p.item.part, ir.Reasoning):
                out += self._end_reasoning(index, p.item.part)
        return out

    def _finish(self, ev: ir.StreamFinish) -> bytes:
        if ev.finish_reason == "error":
            return self.finish(ir.StreamError("The upstream ended the response with an error.", code="server_error"))
        out = self._close_all()
        status, incomplete = finish_status(ev.finish_reason)
        usage = self._usage(ev.usage)
        self._ended = True
        kind = "response.incomplete" if status == "incomplete" else "response.completed"
        return out + self._ev(kind, response=self._response(status, usage, incomplete))

    def finish(self, error: ir.StreamError | None = None) -> bytes:
        if self._ended:
            return b""
        if error is None:
            error = ir.StreamError("The upstream stream ended before the response was complete.")
        out = self._ensure_started()
        self._ended = True
        body = {"code": error.code, "message": error.message}
        return out + self._ev("response.failed", response=self._response("failed", None, None, body))

