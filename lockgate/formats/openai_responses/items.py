"""Input items ↔ IR messages (also the item shapes shared with response output).

Grouping: consecutive assistant-side items (reasoning, function_call, custom_tool_call and
at most one assistant message) become one IR assistant message, the shape the other
formats want (Anthropic's thinking + text + tool_use in one turn). Each tool output becomes
one "tool" message; every other message item one IR message. Items the IR does not model
(item_reference, compaction, additional_tools, web_search_call…) become an `ir.Opaque` in a
message of their own, given back verbatim.
"""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.errors import InvalidRequest
from lockgate.formats import envelope
from lockgate.formats.openai_responses.common import (
    NAME,
    Json,
    need_obj,
    need_str,
    note,
    public,
    rest,
    set_note,
)
from lockgate.formats.openai_responses.content import (
    ContentPart,
    decode_content,
    decode_output,
    encode_content,
    encode_output,
)

__all__ = [
    "decode_call",
    "decode_input",
    "decode_reasoning",
    "encode_call",
    "encode_input",
    "encode_reasoning",
    "envelope_reasoning",
]

_ROLES = ("user", "assistant", "system", "developer")
_CALL_FIELDS = ("type", "call_id", "name", "arguments", "input", "id", "namespace")
_REASONING_FIELDS = ("type", "id", "summary", "encrypted_content")


def decode_call(item: Json, where: str) -> ir.ToolCall:
    custom = item.get("type") == "custom_tool_call"
    extra = rest(item, _CALL_FIELDS)
    namespace = item.get("namespace")
    return ir.ToolCall(
        call_id=need_str(item, "call_id", where),
        name=need_str(item, "name", where),
        arguments=need_str(item, "input" if custom else "arguments", where),
        kind="custom" if custom else "function",
        namespace=namespace if isinstance(namespace, str) else None,
        item_id=item.get("id"),
        extra=extra,
        extra_source=NAME,
    )


def decode_reasoning(item: Json, where: str, key: bytes | None) -> ir.Reasoning | envelope.CallExtra:
    encrypted = item.get("encrypted_content")
    if isinstance(encrypted, str) and envelope.is_envelope(encrypted):
        opened = envelope.open_envelope(encrypted, key)
        if opened is not None:
            return opened
    summary = item.get("summary") or []
    content = item.get("content")
    if not isinstance(summary, list) or (content is not None and not isinstance(content, list)):
        raise InvalidRequest(f"{where}.summary and .content must be lists", param=where)
    return ir.Reasoning(
        text="".join(c.get("text", "") for c in content or [] if isinstance(c, dict)),
        summary=[s.get("text", "") for s in summary if isinstance(s, dict)],
        encrypted=encrypted if isinstance(encrypted, str) else None,
        source=NAME,
        item_id=item.get("id"),
        # `content` stays here verbatim (null, absent or the list), the text above is a copy
        extra=rest(item, _REASONING_FIELDS),
    )


def _opaque_message(item: Json) -> ir.Message:
    kind = str(item.get("type", ""))
    role: ir.Role = "tool" if kind.endswith("_output") else "assistant" if kind.endswith("_call") else "user"
    if item.get("role") in _ROLES:
        role = item["role"]
    msg = ir.Message(role=role, parts=[ir.Opaque(raw=item, source=NAME)])
    set_note(msg.extra, "item", True)
    return msg


def decode_input(items: Any, key: bytes | None) -> list[ir.Message]:
    if isinstance(items, str):
        return [ir.Message(role="user", parts=[ir.Text(items)])]
    if not isinstance(items, list):
        raise InvalidRequest("input must be a string or a list of items", param="input")
    messages: list[ir.Message] = []
    group: ir.Message | None = None  # the open assistant turn
    group_has_message = False
    call_extras: list[envelope.CallExtra] = []
    names: dict[str, str] = {}

    def assistant_group() -> ir.Message:
        nonlocal group, group_has_message
        if group is None:
            group, group_has_message = ir.Message(role="assistant", parts=[]), False
            messages.append(group)
        return group

    for i, raw in enumerate(items):
        where = f"input[{i}]"
        item = need_obj(raw, where)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in _ROLES:
                raise InvalidRequest(f"{where}.role must be one of {', '.join(_ROLES)}", param=f"{where}.role")
            parts: list[ir.Part] = list(decode_content(item.get("content"), role, where))
            extra = rest(item, ("role", "content", "id"))
            if isinstance(item.get("content"), str):
                set_note(extra, "content", "string")
            if role == "assistant" and parts:
                if group_has_message:  # one message item per turn: a second one opens a new turn
                    group = None
                turn = assistant_group()
                turn.parts.extend(parts)
                turn.item_id, turn.extra, group_has_message = item.get("id"), extra, True
            else:
                group = None
                messages.append(ir.Message(role=role, parts=parts, item_id=item.get("id"), extra=extra))
        elif kind in ("function_call", "custom_tool_call"):
            call = decode_call(item, where)
            names[call.call_id] = call.name
            assistant_group().parts.append(call)
        elif kind == "reasoning":
            decoded = decode_reasoning(item, where, key)
            if isinstance(decoded, envelope.CallExtra):
                call_extras.append(decoded)
            else:
                assistant_group().parts.append(decoded)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            group = None
            call_id = need_str(item, "call_id", where)
            result = ir.ToolResult(
                call_id=call_id,
                content=decode_output(item.get("output"), where),
                kind="custom" if kind == "custom_tool_call_output" else "function",
                name=names.get(call_id),
                extra=rest(item, ("type", "call_id", "output")),
            )
            messages.append(ir.Message(role="tool", parts=[result]))
        else:
            group = None
            messages.append(_opaque_message(item))
    if call_extras:
        _restore_call_extras(messages, call_extras)
    return messages


def _restore_call_extras(messages: list[ir.Message], extras: list[envelope.CallExtra]) -> None:
    by_id = {e.call_id: e for e in extras}
    for m in messages:
        for p in m.parts:
            if isinstance(p, ir.ToolCall) and p.call_id in by_id:
                found = by_id[p.call_id]
                p.extra, p.extra_source = dict(found.extra), found.source


# -- encoding --------------------------------------------------------------------------------

def encode_call(call: ir.ToolCall, ours: bool) -> Json:
    """A function_call / custom_tool_call item. `ours`: the request/response came from this
    format, so `extra` holds Responses fields (unless the call says otherwise)."""
    item: Json = {"type": "custom_tool_call" if call.kind == "custom" else "function_call"}
    if call.item_id is not None:
        item["id"] = call.item_id
    item["call_id"] = call.call_id
    if call.namespace is not None:
        item["namespace"] = call.namespace
    item["name"] = call.name
    item["input" if call.kind == "custom" else "arguments"] = call.arguments
    if (call.extra_source or (NAME if ours else None)) == NAME:
        item.update(public(call.extra))
    return item


def encode_reasoning(r: ir.Reasoning, item_id: str | None = None) -> Json:
    """A reasoning item for reasoning this format produced."""
    item: Json = {"type": "reasoning"}
    if r.item_id is not None or item_id is not None:
        item["id"] = r.item_id if r.item_id is not None else item_id
    item["summary"] = [{"type": "summary_text", "text": s} for s in r.summary]
    extra = public(r.extra)
    if "content" not in extra and r.text:
        item["content"] = [{"type": "reasoning_text", "text": r.text}]
    item.update(extra)
    if r.encrypted is not None:
        item["encrypted_content"] = r.encrypted
    return item


def envelope_reasoning(r: ir.Reasoning, item_id: str, key: bytes | None) -> Json:
    """Another format's reasoning as a reasoning item a Responses client keeps and resends:
    the visible text as the summary, everything in the sealed `encrypted_content`."""
    shown = [s for s in r.summary if s] or ([r.text] if r.text else [])
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": s} for s in shown],
        "encrypted_content": envelope.seal_reasoning(r, key),
    }


def _message_item(msg: ir.Message, run: list[ContentPart], first: bool, ours: bool) -> Json:
    role = "user" if msg.role == "tool" else msg.role
    item: Json = {}
    if ours and first:
        item.update(public(msg.extra))
    elif not ours:
        item["type"] = "message"
    if first and msg.item_id is not None:
        item["id"] = msg.item_id
    item["role"] = role
    if ours and first and note(msg.extra, "content") == "string" and len(run) == 1 and isinstance(run[0], ir.Text):
        item["content"] = run[0].text
    else:
        item["content"] = encode_content(run, role, ours)
    return item


def encode_input(messages: list[ir.Message], ours: bool) -> list[Json]:
    """IR messages → input items for a Responses provider. Reasoning from another format and
    foreign items are dropped: OpenAI would reject them."""
    items: list[Json] = []
    for msg in messages:
        if note(msg.extra, "item"):
            items.extend(p.raw for p in msg.parts if isinstance(p, ir.Opaque) and p.source == NAME)
            continue
        run: list[ContentPart] = []
        first = True
        for p in msg.parts:
            if isinstance(p, ir.Text | ir.Refusal | ir.Image | ir.File | ir.Opaque):
                run.append(p)
                continue
            if run:
                items.append(_message_item(msg, run, first, ours))
                run, first = [], False
            if isinstance(p, ir.ToolCall):
                items.append(encode_call(p, ours))
            elif isinstance(p, ir.ToolResult):
                out: Json = {
                    "type": "custom_tool_call_output" if p.kind == "custom" else "function_call_output",
                    "call_id": p.call_id,
                    "output": encode_output(p.content, ours),
                }
                if ours:
                    out.update(public(p.extra))
                items.append(out)
            elif p.source == NAME:
                items.append(encode_reasoning(p))
        if run or not msg.parts:
            items.append(_message_item(msg, run, first, ours))
    return items
