"""Chat Completions request body → IR."""

from __future__ import annotations

from typing import Any

import orjson

from lockgate import ir
from lockgate.errors import InvalidRequest

from .common import NAME, NOTE, Json, obj, text_field
from .parts import decode_part

_TOP = frozenset({
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "top_k", "stop", "response_format", "reasoning_effort", "metadata", "user", "stream",
})
_MESSAGE_KEYS = {
    "system": {"role", "content"},
    "developer": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "refusal", "tool_calls", "function_call", "reasoning_content"},
    "tool": {"role", "content", "tool_call_id"},
    "function": {"role", "content", "name"},
}


def decode_request(body: Json) -> ir.Request:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string", param="model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    note: Json = {}
    extra = {k: v for k, v in body.items() if k not in _TOP}
    req = ir.Request(model=model, messages=_decode_messages(raw_messages), source=NAME, extra=extra)
    req.stream = body.get("stream") is True
    if "stream" in body and not isinstance(body["stream"], bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    if body.get("stream") is False:
        note["stream_false"] = True
    if body.get("tools") is not None:
        _decode_tools(body["tools"], req)
        if req.builtin_tools and req.tools:  # where they sat among the functions
            note["builtin_at"] = [i for i, t in enumerate(body["tools"]) if t.get("type") not in ("function", "custom")]
    if body.get("tool_choice") is not None:
        req.tool_choice = _decode_tool_choice(body["tool_choice"])
    req.parallel_tool_calls = _opt(body, "parallel_tool_calls", bool)
    mct, mt = _opt(body, "max_completion_tokens", int), _opt(body, "max_tokens", int)
    if mct is not None:
        req.max_output_tokens = mct
        if mt is not None:
            extra["max_tokens"] = mt  # both sent: the older one rides along unchanged
    elif mt is not None:
        req.max_output_tokens = mt
        note["max_tokens"] = True
    req.temperature = _number(body, "temperature")
    req.top_p = _number(body, "top_p")
    req.top_k = _opt(body, "top_k", int)
    stop = body.get("stop")
    if isinstance(stop, str):
        req.stop, note["stop_str"] = [stop], True
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        req.stop = list(stop)
    elif stop is not None:
        raise InvalidRequest("'stop' must be a string or an array of strings", param="stop")
    if body.get("response_format") is not None:
        req.response_format = _decode_response_format(body["response_format"])
    req.reasoning_effort = _opt(body, "reasoning_effort", str)
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise InvalidRequest("'metadata' must be an object of strings", param="metadata")
        req.metadata = dict(metadata)
    req.user = _opt(body, "user", str)
    if note:
        extra[NOTE] = note
    return req


def _opt(body: Json, key: str, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidRequest(f"'{key}' must be a {kind.__name__}", param=key)
    return value


def _number(body: Json, key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"'{key}' must be a number", param=key)
    return value


# -- messages ---------------------------------------------------------------------------------

def _decode_messages(raw_messages: list[Any]) -> list[ir.Message]:
    out: list[ir.Message] = []
    legacy_call: str | None = None  # id given to the last legacy `function_call`, for its `function` answer
    for i, raw in enumerate(raw_messages):
        where = f"messages[{i}]"
        raw = obj(raw, where)
        role = raw.get("role")
        if role not in _MESSAGE_KEYS:
            raise InvalidRequest(f"'{where}.role' must be one of system, developer, user, assistant, tool",
                                 param=f"{where}.role")
        extra = {k: v for k, v in raw.items() if k not in _MESSAGE_KEYS[role]}
        note: Json = {}
        if role == "assistant":
            msg = _decode_assistant(raw, where, i, note)
            legacy_call = next((p.call_id for p in msg.parts if isinstance(p, ir.ToolCall)
                                and p.extra.get(NOTE)), legacy_call)
        elif role == "tool":
            call_id = text_field(raw.get("tool_call_id"), f"{where}.tool_call_id")
            msg = ir.Message("tool", [ir.ToolResult(call_id, _decode_result_content(raw.get("content"), where))])
        elif role == "function":
            name = text_field(raw.get("name"), f"{where}.name")
            content = raw.get("content")
            result = ir.ToolResult(legacy_call or f"call_legacy_{i}", content if isinstance(content, str) else "",
                                   name=name, extra={NOTE: {"legacy": True}})
            msg = ir.Message("tool", [result])
        else:
            msg = ir.Message(role, _decode_content(raw.get("content"), where, note))
        for k, v in note.items():
            msg.extra.setdefault(NOTE, {})[k] = v
        msg.extra.update(extra)
        out.append(msg)
    return out


def _decode_content(content: Any, where: str, note: Json) -> list[ir.Part]:
    if isinstance(content, str):
        return [ir.Text(content)]
    if isinstance(content, list):
        note["parts"] = True
        return [decode_part(p, f"{where}.content[{j}]") for j, p in enumerate(content)]
    raise InvalidRequest(f"'{where}.content' must be a string or an array of content parts", param=f"{where}.content")


def _decode_result_content(content: Any, where: str) -> str | list[ir.Text | ir.Image | ir.File]:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[ir.Text | ir.Image | ir.File] = []
        for j, p in enumerate(content):
            part = decode_part(p, f"{where}.content[{j}]")
            if isinstance(part, ir.Refusal):
                raise InvalidRequest(f"'{where}.content[{j}]' cannot be a refusal", param=f"{where}.content")
            parts.append(part)
        return parts
    raise InvalidRequest(f"'{where}.content' must be a string or an array of text parts", param=f"{where}.content")


def _decode_assistant(raw: Json, where: str, i: int, note: Json) -> ir.Message:
    parts: list[ir.Part] = []
    reasoning = raw.get("reasoning_content")
    if isinstance(reasoning, str):
        parts.append(ir.Reasoning(text=reasoning, source=NAME))
    content = raw.get("content")
    if content is None:
        note["content"] = "null" if "content" in raw else "absent"
    else:
        parts.extend(_decode_content(content, where, note))
    refusal = raw.get("refusal")
    if isinstance(refusal, str):
        if note.get("parts"):
            note["refusal_field"] = True  # the last Refusal is the field, not a part of the list
        parts.append(ir.Refusal(refusal))
    calls = raw.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise InvalidRequest(f"'{where}.tool_calls' must be an array", param=f"{where}.tool_calls")
        parts.extend(_decode_tool_call(c, f"{where}.tool_calls[{j}]") for j, c in enumerate(calls))
        if not calls:
            note["empty_tool_calls"] = True
    fc = raw.get("function_call")
    if fc is not None:
        fc = obj(fc, f"{where}.function_call")
        parts.append(ir.ToolCall(f"call_legacy_{i}", text_field(fc.get("name"), f"{where}.function_call.name"),
                                 _arguments(fc.get("arguments"), f"{where}.function_call.arguments"),
                                 extra={NOTE: {"legacy": True}}))
    return ir.Message("assistant", parts)


def _arguments(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # some clients send the object itself
        return orjson.dumps(value).decode()
    raise InvalidRequest(f"'{where}' must be a JSON string", param=where)


def _decode_tool_call(raw: Any, where: str) -> ir.ToolCall:
    raw = obj(raw, where)
    call_id = text_field(raw.get("id"), f"{where}.id")
    kind = raw.get("type", "function")
    if kind == "function":
        fn = obj(raw.get("function"), f"{where}.function")
        extra = {k: v for k, v in raw.items() if k not in ("id", "type", "function")}
        return ir.ToolCall(call_id, text_field(fn.get("name"), f"{where}.function.name"),
                           _arguments(fn.get("arguments"), f"{where}.function.arguments"), extra=extra)
    if kind == "custom":
        c = obj(raw.get("custom"), f"{where}.custom")
        extra = {k: v for k, v in raw.items() if k not in ("id", "type", "custom")}
        return ir.ToolCall(call_id, text_field(c.get("name"), f"{where}.custom.name"),
                           text_field(c.get("input"), f"{where}.custom.input"), kind="custom", extra=extra)
    raise InvalidRequest(f"'{where}.type' must be 'function' or 'custom'", param=f"{where}.type")


# -- tools --------------------------------------------------------------------------------------

def _decode_tools(raw_tools: Any, req: ir.Request) -> None:
    if not isinstance(raw_tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    for i, raw in enumerate(raw_tools):
        where = f"tools[{i}]"
        raw = obj(raw, where)
        kind = raw.get("type")
        if kind not in ("function", "custom"):
            if not isinstance(kind, str):
                raise InvalidRequest(f"'{where}.type' is required", param=f"{where}.type")
            req.builtin_tools.append(ir.BuiltinTool(kind, raw, NAME))
            continue
        inner = obj(raw.get(kind), f"{where}.{kind}")
        name = text_field(inner.get("name"), f"{where}.{kind}.name")
        known = ("name", "description", "parameters", "strict") if kind == "function" else (
            "name", "description", "format")
        extra: Json = {k: v for k, v in raw.items() if k not in ("type", kind, "cache_control")}
        inner_extra = {k: v for k, v in inner.items() if k not in known}
        if inner_extra:
            extra[kind] = inner_extra
        tool = ir.Tool(name, description=inner.get("description"), kind=kind, cache_control=raw.get("cache_control"),
                       extra=extra)
        if kind == "function":
            tool.parameters = inner.get("parameters")
            tool.strict = inner.get("strict")
        elif inner.get("format") is not None:
            tool.format = _decode_custom_format(obj(inner["format"], f"{where}.custom.format"))
        req.tools.append(tool)


def _decode_custom_format(fmt: Json) -> Json:
    """Chat nests the grammar (`{"type": "grammar", "grammar": {...}}`); the IR keeps Responses' flat form."""
    if fmt.get("type") == "grammar" and isinstance(fmt.get("grammar"), dict):
        return {"type": "grammar", **fmt["grammar"], **{k: v for k, v in fmt.items() if k not in ("type", "grammar")}}
    return dict(fmt)


def _decode_tool_choice(raw: Any) -> ir.ToolChoice:
    if raw in ("auto", "none", "required"):
        return ir.ToolChoice(raw)
    if isinstance(raw, dict):
        kind = raw.get("type")
        if kind in ("function", "custom"):
            inner = obj(raw.get(kind), f"tool_choice.{kind}")
            choice = ir.ToolChoice("tool", text_field(inner.get("name"), f"tool_choice.{kind}.name"))
            if kind == "custom":
                choice.extra[NOTE] = {"custom": True}
            return choice
        if kind == "allowed_tools":
            allowed = obj(raw.get("allowed_tools"), "tool_choice.allowed_tools")
            mode = allowed.get("mode")
            if mode not in ("auto", "required"):
                raise InvalidRequest("'tool_choice.allowed_tools.mode' must be 'auto' or 'required'",
                                     param="tool_choice.allowed_tools.mode")
            return ir.ToolChoice(mode, extra={"allowed_tools": allowed})
    raise InvalidRequest("'tool_choice' must be 'auto', 'none', 'required' or a named tool", param="tool_choice")


def _decode_response_format(raw: Any) -> ir.ResponseFormat:
    raw = obj(raw, "response_format")
    kind = raw.get("type")
    if kind in ("text", "json_object"):
        return ir.ResponseFormat(kind)
    if kind == "json_schema":
        js = obj(raw.get("json_schema"), "response_format.json_schema")
        return ir.ResponseFormat("json_schema", name=text_field(js.get("name"), "response_format.json_schema.name"),
                                 schema=js.get("schema"), strict=js.get("strict"), description=js.get("description"))
    raise InvalidRequest("'response_format.type' must be text, json_object or json_schema",
                         param="response_format.type")
