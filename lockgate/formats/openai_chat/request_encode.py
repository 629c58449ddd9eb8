"""IR → Chat Completions request body.

A request decoded from this format comes back as it came (its `extra` and round-trip
notes say how). From another format the body is the plain form every OpenAI-compatible
host accepts: string content where only text is sent, `system` for developer messages,
one `tool` message per result right after its call (see `pairing`), no `cache_control`
or other formats' extras.
"""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.errors import TranslationError

from .common import NAME, Json, notes, without_notes
from .pairing import Entry, pair
from .parts import describe, encode_part


def encode_request(req: ir.Request, *, max_tokens_field: str = "max_completion_tokens",
                   stream_usage: bool = True) -> Json:
    """`max_tokens_field`: the limit's name for this host when the client's choice is unknown.
    `stream_usage`: ask for the usage chunk in streams (the gateway needs it for cost)."""
    same = req.source == NAME
    note = notes(req.extra) if same else {}
    body: Json = {"model": req.model, "messages": encode_messages(req, same)}
    if same:
        body.update(without_notes(req.extra))
    if req.tools or req.builtin_tools:
        tools = [_encode_tool(t, same) for t in req.tools]
        at = note.get("builtin_at")
        if not isinstance(at, list) or len(at) != len(req.builtin_tools):
            at = [len(tools) + i for i in range(len(req.builtin_tools))]
        for pos, builtin in zip(at, req.builtin_tools, strict=True):
            tools.insert(min(pos, len(tools)), _builtin(builtin))
        body["tools"] = tools
    if req.tool_choice is not None:
        body["tool_choice"] = _encode_tool_choice(req.tool_choice, req.tools, same)
    if req.parallel_tool_calls is not None and (same or req.tools):
        body["parallel_tool_calls"] = req.parallel_tool_calls  # OpenAI rejects it without tools
    if req.max_output_tokens is not None:
        body["max_tokens" if note.get("max_tokens") else max_tokens_field] = req.max_output_tokens
    for key in ("temperature", "top_p"):
        if (value := getattr(req, key)) is not None:
            body[key] = value
    if same and req.top_k is not None:  # OpenAI itself has no top_k
        body["top_k"] = req.top_k
    if req.stop:
        body["stop"] = req.stop[0] if note.get("stop_str") and len(req.stop) == 1 else list(req.stop)
    if req.response_format is not None:
        body["response_format"] = _encode_response_format(req.response_format)
    if req.reasoning_effort is not None:
        body["reasoning_effort"] = req.reasoning_effort
    if req.metadata:
        body["metadata"] = dict(req.metadata)
    if req.user is not None:
        body["user"] = req.user
    if req.stream:
        body["stream"] = True
        if stream_usage:
            opts = body.get("stream_options")
            body["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
    else:
        body.pop("stream_options", None)  # OpenAI rejects stream_options without stream
        if note.get("stream_false"):
            body["stream"] = False
    return body


# -- messages ---------------------------------------------------------------------------------

def encode_messages(req: ir.Request, same: bool) -> list[Json]:
    entries: list[Entry] = []
    if req.system:
        entries.append(Entry({"role": "system", "content": "\n\n".join(t.text for t in req.system)}))
    messages = req.messages if same else _merge_assistants(req.messages)
    for msg in messages:
        results = [p for p in msg.parts if isinstance(p, ir.ToolResult)]
        rest: list[ir.Part] = [p for p in msg.parts if not isinstance(p, ir.ToolResult)]
        if msg.role == "assistant":
            wire = _assistant(msg, rest, same)
            if wire is not None:
                entries.append(wire)
        elif rest or msg.role != "tool":
            entries.append(Entry(_content_message(msg, rest, same)))
        entries.extend(_tool_message(r, msg, same) for r in results)
    return pair(entries, same)


def _merge_assistants(messages: list[ir.Message]) -> list[ir.Message]:
    """Adjacent assistant messages become one (Responses gives each call its own item)."""
    out: list[ir.Message] = []
    for msg in messages:
        if msg.role == "assistant" and out and out[-1].role == "assistant":
            out[-1] = ir.Message("assistant", [*out[-1].parts, *msg.parts])
        else:
            out.append(msg)
    return out


def _content_message(msg: ir.Message, parts: list[ir.Part], same: bool) -> Json:
    role = msg.role if same or msg.role != "developer" else "system"
    if msg.role == "tool":
        role = "user"  # stray non-result parts of a tool message
    out: Json = {"role": role, "content": _content(parts, same and bool(notes(msg.extra).get("parts")), same)}
    if same:
        out.update(without_notes(msg.extra))
    return out


def _content(parts: list[ir.Part], as_list: bool, same: bool) -> str | list[Json]:
    wire: list[Json] = []
    for p in parts:
        if isinstance(p, (ir.Text, ir.Image, ir.File, ir.Refusal)):
            wire.append(encode_part(p, same))
        elif isinstance(p, ir.ToolCall):
            raise TranslationError("a tool call can only be in an assistant message")
        # Reasoning outside an assistant message has no place in chat.
    if not as_list and all(w["type"] == "text" and set(w) == {"type", "text"} for w in wire):
        return "\n\n".join(w["text"] for w in wire)
    return wire


def _assistant(msg: ir.Message, parts: list[ir.Part], same: bool) -> Entry | None:
    note = notes(msg.extra) if same else {}
    as_list = bool(note.get("parts"))
    content_parts: list[ir.Part] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    calls: list[Json] = []
    legacy: Json | None = None
    ids: list[str] = []
    for p in parts:
        if isinstance(p, ir.Reasoning):
            if p.source == NAME:
                reasoning.append(p.text)
        elif isinstance(p, ir.Refusal) and not as_list:
            refusals.append(p.text)
        elif isinstance(p, ir.ToolCall):
            ids.append(p.call_id)
            if same and notes(p.extra).get("legacy"):
                legacy = {"name": p.name, "arguments": p.arguments}
            else:
                calls.append(_encode_call(p, same))
        else:
            content_parts.append(p)
    if as_list and note.get("refusal_field"):
        last = max(i for i, p in enumerate(content_parts) if isinstance(p, ir.Refusal))
        refusals.append(content_parts.pop(last).text)  # type: ignore[union-attr]
    if not same and not (content_parts or refusals or calls or reasoning):
        return None  # only foreign reasoning was in it
    out: Json = {"role": "assistant"}
    if reasoning:
        out["reasoning_content"] = "".join(reasoning)
    if content_parts or as_list:
        out["content"] = _content(content_parts, as_list, same)
    elif note.get("content") != "absent":
        out["content"] = None
    if refusals:
        out["refusal"] = "".join(refusals)
    if calls or note.get("empty_tool_calls"):
        out["tool_calls"] = calls
    if legacy is not None:
        out["function_call"] = legacy
    if same:
        out.update(without_notes(msg.extra))
    # A legacy function_call is answered by a `function` message, which pairing leaves in place.
    return Entry(out, calls=[c["id"] for c in calls])


def _encode_call(call: ir.ToolCall, same: bool) -> Json:
    extra = without_notes(call.extra) if same else {}
    if call.kind == "custom":
        return {"id": call.call_id, "type": "custom", "custom": {"name": call.name, "input": call.arguments},
                **extra}
    return {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments},
            **extra}


def _tool_message(result: ir.ToolResult, msg: ir.Message, same: bool) -> Entry:
    if same and notes(result.extra).get("legacy"):
        text = result.content if isinstance(result.content, str) else ""
        wire: Json = {"role": "function", "name": result.name, "content": text}
        wire.update(without_notes(msg.extra))
        return Entry(wire)  # legacy results are not paired by id
    attachments: list[Json] = []
    content: str | list[Json]
    if isinstance(result.content, str):
        text, content = result.content, result.content
    elif same:
        text = "\n\n".join(p.text for p in result.content if isinstance(p, ir.Text))
        content = [encode_part(p, same) for p in result.content]
    else:
        # A chat tool message takes a string or text parts only (peers §3.3 #5).
        pieces = []
        for p in result.content:
            if isinstance(p, ir.Text):
                pieces.append(p.text)
            else:
                pieces.append(describe(p))
                attachments.append(encode_part(p, same))
        text = "\n\n".join(pieces)
        content = text
    wire = {"role": "tool", "tool_call_id": result.call_id, "content": content}
    if same:
        wire.update(without_notes(msg.extra))
    return Entry(wire, answers=result.call_id, text=text, attachments=attachments)


# -- tools and options --------------------------------------------------------------------------

def _encode_tool(tool: ir.Tool, same: bool) -> Json:
    extra = dict(tool.extra) if same else {}
    inner: Json = {"name": tool.name}
    if tool.description is not None:
        inner["description"] = tool.description
    if tool.kind == "function":
        if tool.parameters is not None:
            inner["parameters"] = tool.parameters
        if tool.strict is not None:
            inner["strict"] = tool.strict
    elif tool.format is not None:
        inner["format"] = _encode_custom_format(tool.format)
    inner_extra = extra.pop(tool.kind, None)
    if isinstance(inner_extra, dict):
        inner.update(inner_extra)
    out: Json = {"type": tool.kind, tool.kind: inner, **extra}
    if same and tool.cache_control is not None:
        out["cache_control"] = tool.cache_control
    return out


def _encode_custom_format(fmt: Json) -> Json:
    if fmt.get("type") == "grammar":
        grammar = {k: fmt[k] for k in ("definition", "syntax") if k in fmt}
        rest = {k: v for k, v in fmt.items() if k not in ("type", "definition", "syntax")}
        return {"type": "grammar", "grammar": grammar, **rest}
    return dict(fmt)


def _builtin(tool: ir.BuiltinTool) -> Json:
    if tool.source != NAME:
        raise TranslationError(f"OpenAI chat has no built-in tool {tool.type!r}")
    return tool.raw


def _encode_tool_choice(choice: ir.ToolChoice, tools: list[ir.Tool], same: bool) -> Any:
    if choice.mode != "tool":
        if same and isinstance(allowed := choice.extra.get("allowed_tools"), dict):
            return {"type": "allowed_tools", "allowed_tools": {**allowed, "mode": choice.mode}}
        return choice.mode
    if choice.name is None:
        raise TranslationError("tool_choice names no tool")
    custom = notes(choice.extra).get("custom") if same else any(
        t.name == choice.name and t.kind == "custom" for t in tools)
    kind = "custom" if custom else "function"
    return {"type": kind, kind: {"name": choice.name}}


def _encode_response_format(fmt: ir.ResponseFormat) -> Json:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    js: Json = {"name": fmt.name or "response"}
    for key in ("description", "schema", "strict"):
        if (value := getattr(fmt, key)) is not None:
            js[key] = value
    return {"type": "json_schema", "json_schema": js}
