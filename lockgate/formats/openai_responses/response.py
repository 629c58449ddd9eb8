"""The `response` object ↔ `ir.Response`, and the output items both streams share."""

from __future__ import annotations

import time
from typing import Any

from lockgate import ir
from lockgate.errors import InvalidRequest
from lockgate.formats import envelope
from lockgate.formats.openai_responses.common import MSG_META, NAME, Json, need_obj, public, rest, stable_id
from lockgate.formats.openai_responses.items import (
    decode_call,
    decode_reasoning,
    encode_call,
    encode_reasoning,
    envelope_reasoning,
)
from lockgate.formats.openai_responses.request import encode_text, encode_tool_choice, encode_tools

__all__ = [
    "OutputWriter",
    "decode_response",
    "decode_usage",
    "encode_response",
    "encode_usage",
    "finish_status",
    "response_object",
]

_TEXT_KEYS = ("annotations", "logprobs")  # output_text fields taken from Text.extra
_MESSAGE_FIELDS = ("type", "role", "content")
_RESPONSE_FIELDS = ("id", "object", "created_at", "model", "output", "usage", "status", "incomplete_details")


# -- usage ----------------------------------------------------------------------------------

def encode_usage(u: ir.Usage) -> Json:
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens, "cache_write_tokens": u.cache_write_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total_tokens,
    }


def decode_usage(u: Any) -> ir.Usage | None:
    if not isinstance(u, dict):
        return None
    details = u.get("input_tokens_details") or {}
    out_details = u.get("output_tokens_details") or {}
    return ir.Usage(
        input_tokens=int(u.get("input_tokens") or 0),
        output_tokens=int(u.get("output_tokens") or 0),
        cached_input_tokens=int(details.get("cached_tokens") or 0),
        cache_write_tokens=int(details.get("cache_write_tokens") or 0),
        reasoning_tokens=int(out_details.get("reasoning_tokens") or 0),
    )


# -- status ----------------------------------------------------------------------------------

def finish_status(reason: ir.FinishReason) -> tuple[str, Json | None]:
    """IR finish reason → (status, incomplete_details)."""
    if reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    if reason == "error":
        return "failed", None
    return "completed", None


def _finish_reason(status: Any, details: Any, content: list[ir.Part]) -> ir.FinishReason:
    if status == "incomplete":
        reason = details.get("reason") if isinstance(details, dict) else None
        return "content_filter" if reason == "content_filter" else "length"
    if status == "failed":
        return "error"
    if any(isinstance(p, ir.ToolCall) for p in content):
        return "tool_calls"
    if any(isinstance(p, ir.Refusal) for p in content) and not any(isinstance(p, ir.Text) for p in content):
        return "refusal"
    return "stop"


# -- output items ------------------------------------------------------------------------------

class OutputWriter:
    """Builds output items with ids that are stable per response and output index, so the
    stream events and the final response name the same items."""

    def __init__(self, response_id: str, key: bytes | None) -> None:
        self.response_id = response_id
        self.key = key
        self.items: list[Json] = []

    def next_id(self, prefix: str) -> str:
        return stable_id(prefix, self.response_id, len(self.items))

    def message(self, parts: list[ir.Text | ir.Refusal], status: str = "completed") -> Json:
        meta = next((p.extra.get(MSG_META) for p in parts if isinstance(p, ir.Text) and MSG_META in p.extra), None)
        meta = dict(meta) if isinstance(meta, dict) else {}
        item: Json = {"id": meta.pop("id", None) or self.next_id("msg_"), "type": "message", "status": status,
                      "role": "assistant", "content": [output_part(p) for p in parts]}
        item.update(meta)  # phase, and the upstream's own status
        return item

    def call(self, call: ir.ToolCall, ours: bool) -> Json:
        item = encode_call(call, ours)
        if "id" not in item:
            item = {"id": self.next_id("ctc_" if call.kind == "custom" else "fc_"), **item}
        if call.kind == "function":
            item.setdefault("status", "completed")
        return item

    def call_envelope(self, call: ir.ToolCall, source: str) -> Json:
        """A reasoning item that carries a foreign call's extra back to us next turn."""
        return {"type": "reasoning", "id": self.next_id("rs_"), "summary": [],
                "encrypted_content": envelope.seal_call_extra(call, source, self.key)}

    def reasoning(self, r: ir.Reasoning) -> Json:
        if r.source == NAME:
            return encode_reasoning(r, self.next_id("rs_"))
        return envelope_reasoning(r, self.next_id("rs_"), self.key)

    def add(self, item: Json) -> Json:
        self.items.append(item)
        return item


def output_part(p: ir.Text | ir.Refusal) -> Json:
    if isinstance(p, ir.Refusal):
        return {"type": "refusal", "refusal": p.text}
    part: Json = {"type": "output_text", "text": p.text, "annotations": []}
    part.update((k, p.extra[k]) for k in _TEXT_KEYS if k in p.extra)
    return part


def foreign_call_source(call: ir.ToolCall, container_source: str | None) -> str | None:
    """The format whose extra a call carries when that is not this one (it then needs an
    envelope to reach its format again through a Responses client)."""
    source = call.extra_source or container_source
    return source if call.extra and source != NAME else None


def encode_output(resp: ir.Response, key: bytes | None) -> list[Json]:
    out = OutputWriter(resp.id, key)
    run: list[ir.Text | ir.Refusal] = []
    for p in resp.content:
        if isinstance(p, ir.Text) and MSG_META in p.extra and run:
            out.add(out.message(run))
            run = []
        if isinstance(p, ir.Text | ir.Refusal):
            run.append(p)
            continue
        if run:
            out.add(out.message(run))
            run = []
        if isinstance(p, ir.ToolCall):
            source = foreign_call_source(p, resp.source or None)
            out.add(out.call(p, ours=source is None and resp.source == NAME))
            if source is not None:
                out.add(out.call_envelope(p, source))
        elif isinstance(p, ir.Reasoning):
            out.add(out.reasoning(p))
        elif isinstance(p, ir.Opaque) and p.source == NAME:
            out.add(p.raw)
    if run:
        out.add(out.message(run))
    return out.items


# -- the response object -----------------------------------------------------------------------

def response_object(req: ir.Request, *, id: str, model: str, created: int, status: str,
                    output: list[Json], usage: ir.Usage | None, incomplete: Json | None = None,
                    error: Json | None = None) -> Json:
    """A `response` object with the request fields OpenAI echoes (the SDK requires some)."""
    ours = req.source == NAME
    reasoning: Json = {"effort": req.reasoning_effort, "summary": req.reasoning_summary}
    extra = req.extra if ours else {}
    return {
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": "\n\n".join(t.text for t in req.system) if req.system else None,
        "max_output_tokens": req.max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": req.parallel_tool_calls if req.parallel_tool_calls is not None else True,
        "previous_response_id": extra.get("previous_response_id"),
        "reasoning": reasoning,
        "store": extra.get("store", False),
        "temperature": req.temperature,
        "text": encode_text(req, ours) or {"format": {"type": "text"}},
        "tool_choice": encode_tool_choice(req.tool_choice, req, ours) if req.tool_choice else "auto",
        "tools": encode_tools(req, ours) or [],
        "top_p": req.top_p,
        "truncation": extra.get("truncation", "disabled"),
        "usage": encode_usage(usage) if usage is not None else None,
        "user": req.user,
        "metadata": req.metadata,
    }


def encode_response(resp: ir.Response, req: ir.Request, key: bytes | None = None) -> Json:
    status, incomplete = finish_status(resp.finish_reason)
    error = None
    if status == "failed":
        err = resp.extra.get("error") if resp.source == NAME else None
        error = err if isinstance(err, dict) else {"code": "server_error", "message": "The upstream response failed."}
    body = response_object(
        req, id=resp.id, model=resp.model or req.model, created=resp.created or int(time.time()), status=status,
        output=encode_output(resp, key), usage=resp.usage, incomplete=incomplete, error=error,
    )
    if resp.source == NAME:  # what the upstream said about itself beats what we echo
        body.update(public(resp.extra))
    return body


def decode_output_items(output: Any, key: bytes | None) -> list[ir.Part]:
    if not isinstance(output, list):
        raise InvalidRequest("response.output must be a list", param="output")
    content: list[ir.Part] = []
    extras: list[envelope.CallExtra] = []
    for i, raw in enumerate(output):
        where = f"output[{i}]"
        item = need_obj(raw, where)
        kind = item.get("type")
        if kind == "message":
            meta = rest(item, _MESSAGE_FIELDS)
            first = True
            for part in item.get("content") or []:
                if part.get("type") == "refusal":
                    content.append(ir.Refusal(part.get("refusal", "")))
                    continue
                extra = rest(part, ("type", "text"))
                if first:
                    extra[MSG_META] = meta
                    first = False
                content.append(ir.Text(part.get("text", ""), extra=extra))
        elif kind in ("function_call", "custom_tool_call"):
            content.append(decode_call(item, where))
        elif kind == "reasoning":
            decoded = decode_reasoning(item, where, key)
            if isinstance(decoded, envelope.CallExtra):
                extras.append(decoded)
            else:
                content.append(decoded)
        else:  # web_search_call, compaction, image_generation_call…: for a Responses client only
            content.append(ir.Opaque(raw=item, source=NAME))
    for e in extras:
        for p in content:
            if isinstance(p, ir.ToolCall) and p.call_id == e.call_id:
                p.extra, p.extra_source = dict(e.extra), e.source
    return content


def decode_response(body: Json, key: bytes | None = None) -> ir.Response:
    body = need_obj(body, "response")
    content = decode_output_items(body.get("output", []), key)
    return ir.Response(
        id=str(body.get("id", "")),
        model=str(body.get("model", "")),
        content=content,
        finish_reason=_finish_reason(body.get("status"), body.get("incomplete_details"), content),
        usage=decode_usage(body.get("usage")),
        created=int(body.get("created_at") or 0),
        source=NAME,
        extra=rest(body, _RESPONSE_FIELDS),
    )
