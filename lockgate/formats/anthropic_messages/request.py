"""Anthropic Messages requests ↔ IR requests."""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.errors import InvalidRequest, TranslationError
from lockgate.formats.anthropic_messages import blocks as B
from lockgate.formats.anthropic_messages.turns import build_turns, limit_cache_control

__all__ = ["DEFAULT_MAX_TOKENS", "decode_request", "encode_request"]

Json = dict[str, Any]

# Anthropic requires max_tokens; other APIs do not. 8192 is accepted by every current Claude
# model (the 3.5 generation's ceiling; later models allow more) and is enough for an agent's
# turn. With a thinking budget the budget comes on top, as max_tokens must exceed it.
DEFAULT_MAX_TOKENS = 8192

_MODELED = frozenset({
    "model", "messages", "system", "max_tokens", "metadata", "stop_sequences", "stream", "temperature", "top_p",
    "top_k", "tools", "tool_choice", "thinking", "output_config",
})
_CHOICE_MODES = {"auto": "auto", "any": "required", "tool": "tool", "none": "none"}
_CHOICE_TYPES = {v: k for k, v in _CHOICE_MODES.items()}
_TOOL_KEYS = ("name", "description", "input_schema", "strict", "cache_control")


# -- decode ----------------------------------------------------------------------------------

def decode_request(body: Json) -> ir.Request:
    """A /v1/messages (or count_tokens) body → IR. max_tokens is optional here because
    count_tokens bodies have none; the API itself enforces it on /v1/messages."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Field required", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: Field required (a list of messages)", param="messages")
    req = ir.Request(model=model, messages=_decode_messages(messages), source=B.NAME,
                     extra={k: v for k, v in body.items() if k not in _MODELED})
    _decode_system(body.get("system"), req)
    _decode_tools(body.get("tools"), req)
    _decode_tool_choice(body.get("tool_choice"), req)
    _decode_sampling(body, req)
    _decode_thinking_and_output(body, req)
    return req


def _decode_messages(messages: list[Any]) -> list[ir.Message]:
    out: list[ir.Message] = []
    for i, msg in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant", "system"):
            raise InvalidRequest(f"{where}.role: expected 'user', 'assistant' or 'system'", param=f"{where}.role")
        role = msg["role"]
        extra = {k: v for k, v in msg.items() if k not in ("role", "content")}
        content = msg.get("content")
        if role == "system":
            # A system message inside the conversation (Claude Code sends them): kept in place
            # for Anthropic, joined to the instructions by formats without it.
            out.append(_system_message(content, extra, where))
            continue
        if isinstance(content, str):
            out.append(ir.Message(role, [ir.Text(content)], extra={**extra, "anthropic_content_string": True}))
            continue
        if not isinstance(content, list):
            raise InvalidRequest(f"{where}.content: expected a string or a list of blocks", param=f"{where}.content")
        # Tool results become a "tool" message (the IR convention); the rest stays a user or
        # assistant message, with unknown blocks numbered among the rest.
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        rest = [b for b in content if not (isinstance(b, dict) and b.get("type") == "tool_result")]
        if results:
            parts, _ = B.decode_blocks(results, f"{where}.content")
            out.append(ir.Message("tool", parts))
        if rest or not results:
            parts, unknown = B.decode_blocks(rest, f"{where}.content")
            if unknown:
                extra[B.UNKNOWN_BLOCKS] = unknown
            out.append(ir.Message(role, parts, extra=extra))
    return out


def _system_message(content: Any, extra: Json, where: str) -> ir.Message:
    extra = {**extra, "anthropic_system_message": True}
    if isinstance(content, str):
        return ir.Message("system", [ir.Text(content)], extra={**extra, "anthropic_content_string": True})
    if not isinstance(content, list) or not all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        raise InvalidRequest(f"{where}.content: a system message takes a string or text blocks",
                             param=f"{where}.content")
    parts, _ = B.decode_blocks(content, f"{where}.content")
    return ir.Message("system", parts, extra=extra)


def _decode_system(system: Any, req: ir.Request) -> None:
    if system is None:
        return
    if isinstance(system, str):
        req.system = [ir.Text(system)]
        req.extra["_system_string"] = True
        return
    if not isinstance(system, list):
        raise InvalidRequest("system: expected a string or a list of text blocks", param="system")
    for i, block in enumerate(system):
        part = B.decode_block(block, f"system.{i}")
        if not isinstance(part, ir.Text):
            raise InvalidRequest(f"system.{i}: only text blocks are allowed", param=f"system.{i}")
        req.system.append(part)


def _decode_tools(tools: Any, req: ir.Request) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise InvalidRequest("tools: expected a list", param="tools")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise InvalidRequest(f"tools.{i}.name: Field required", param=f"tools.{i}.name")
        kind = tool.get("type")
        if kind is not None and kind != "custom":
            # Server tools (web_search_20250305, bash_20250124, text_editor_…, code_execution_…).
            req.builtin_tools.append(ir.BuiltinTool(type=str(kind), raw=tool, source=B.NAME))
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise InvalidRequest(f"tools.{i}.input_schema: Field required", param=f"tools.{i}.input_schema")
        # `type: "custom"` is Anthropic's name for an ordinary client tool, not a freeform one.
        req.tools.append(ir.Tool(name=tool["name"], description=tool.get("description"), parameters=schema,
                                 strict=tool.get("strict"), cache_control=tool.get("cache_control"),
                                 extra={k: v for k, v in tool.items() if k not in _TOOL_KEYS}))


def _decode_tool_choice(choice: Any, req: ir.Request) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in _CHOICE_MODES:
        raise InvalidRequest("tool_choice.type: expected auto, any, tool or none", param="tool_choice.type")
    mode = _CHOICE_MODES[choice["type"]]
    name = choice.get("name")
    if mode == "tool" and not isinstance(name, str):
        raise InvalidRequest("tool_choice.name: Field required", param="tool_choice.name")
    req.tool_choice = ir.ToolChoice(mode=mode, name=name,  # type: ignore[arg-type]
                                    extra={k: v for k, v in choice.items()
                                           if k not in ("type", "name", "disable_parallel_tool_use")})
    if "disable_parallel_tool_use" in choice:
        req.parallel_tool_calls = not choice["disable_parallel_tool_use"]


def _decode_sampling(body: Json, req: ir.Request) -> None:
    for key, attr, types in (("max_tokens", "max_output_tokens", (int,)), ("temperature", "temperature", (int, float)),
                             ("top_p", "top_p", (int, float)), ("top_k", "top_k", (int,))):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            raise InvalidRequest(f"{key}: expected a number", param=key)
        setattr(req, attr, value)
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise InvalidRequest("stop_sequences: expected a list of strings", param="stop_sequences")
        req.stop = list(stop)
    req.stream = bool(body.get("stream", False))
    if "stream" in body and body["stream"] is False:
        req.extra["_stream_false"] = True
    meta = body.get("metadata")
    if meta is not None:
        if not isinstance(meta, dict):
            raise InvalidRequest("metadata: expected an object", param="metadata")
        meta = dict(meta)
        user = meta.pop("user_id", None)
        req.user = user if isinstance(user, str) else None
        if user is not None and req.user is None:
            meta["user_id"] = user
        req.metadata = meta
        if not meta and req.user is None:
            req.extra["_metadata_empty"] = True


def _decode_thinking_and_output(body: Json, req: ir.Request) -> None:
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict):
            raise InvalidRequest("thinking: expected an object", param="thinking")
        budget = thinking.get("budget_tokens")
        if thinking.get("type") == "enabled" and isinstance(budget, int):
            req.thinking_budget = budget
        if set(thinking) != {"type", "budget_tokens"} or thinking.get("type") != "enabled":
            req.extra["thinking"] = thinking  # adaptive, disabled, display…: same format only
    config = body.get("output_config")
    if config is not None:
        if not isinstance(config, dict):
            raise InvalidRequest("output_config: expected an object", param="output_config")
        rest = dict(config)
        effort = rest.pop("effort", None)
        if isinstance(effort, str):
            req.reasoning_effort = effort
        elif effort is not None:
            rest["effort"] = effort
        fmt = rest.pop("format", None)
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
            req.response_format = ir.ResponseFormat(type="json_schema", schema=fmt["schema"])
        elif fmt is not None:
            rest["format"] = fmt
        req.extra["output_config"] = rest


# -- encode ----------------------------------------------------------------------------------

def encode_request(req: ir.Request) -> Json:
    """IR → a body the Messages API accepts (see `turns` for the regrouping rules)."""
    same = req.source == B.NAME
    system, messages = build_turns(req)
    body: Json = {"model": req.model, "max_tokens": _max_tokens(req), "messages": messages}
    if system:
        plain = len(system) == 1 and set(system[0]) == {"type", "text"}
        body["system"] = system[0]["text"] if plain and same and req.extra.get("_system_string") else system
    tools: list[Json] = [_encode_tool(t) for t in req.tools]
    tools += [dict(t.raw) for t in req.builtin_tools if t.source == B.NAME]
    if tools:
        body["tools"] = tools
    if (choice := _encode_tool_choice(req, bool(tools))) is not None:
        body["tool_choice"] = choice
    for key, value in (("temperature", req.temperature), ("top_p", req.top_p), ("top_k", req.top_k)):
        if value is not None:
            body[key] = value
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.stream or (same and req.extra.get("_stream_false")):
        body["stream"] = req.stream
    _encode_metadata(req, body, same)
    _encode_thinking_and_output(req, body, same)
    if same:
        for key, value in req.extra.items():
            if not key.startswith("_") and key not in ("thinking", "output_config"):
                body[key] = value
    limit_cache_control(body)
    return body


def _max_tokens(req: ir.Request) -> int:
    if req.max_output_tokens is not None:
        return req.max_output_tokens
    return DEFAULT_MAX_TOKENS + (req.thinking_budget or 0)


def _encode_tool(tool: ir.Tool) -> Json:
    if tool.kind == "custom":
        # The gateway offers custom tools as functions before encoding; this keeps an encoder
        # used on its own correct with the same one-string-parameter shape.
        schema: Json = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}
    else:
        schema = tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}}
    out: Json = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = schema
    if tool.strict is not None:
        out["strict"] = tool.strict
    if tool.cache_control is not None:
        out["cache_control"] = tool.cache_control
    # Tool.extra of a foreign tool would hold that API's fields; only decoded ones carry ours.
    out.update({k: v for k, v in tool.extra.items() if k in _ANTHROPIC_TOOL_EXTRA})
    return out


_ANTHROPIC_TOOL_EXTRA = frozenset({"type", "allowed_callers", "defer_loading", "eager_input_streaming",
                                   "input_examples"})


def _encode_tool_choice(req: ir.Request, has_tools: bool) -> Json | None:
    choice = req.tool_choice
    if choice is None and not (req.parallel_tool_calls is False and has_tools):
        return None
    out: Json = {"type": _CHOICE_TYPES[choice.mode] if choice else "auto"}
    if choice is not None and choice.mode == "tool":
        if not choice.name:
            raise TranslationError("tool_choice: a named tool choice without a name")
        out["name"] = choice.name
    if choice is not None and req.source == B.NAME:
        out.update(choice.extra)
    if req.parallel_tool_calls is False:
        out["disable_parallel_tool_use"] = True
    elif req.parallel_tool_calls is True and choice is not None and choice.mode != "none":
        out["disable_parallel_tool_use"] = False
    return out


def _encode_metadata(req: ir.Request, body: Json, same: bool) -> None:
    # Anthropic accepts only `user_id` in metadata; other formats' free-form metadata stays out.
    meta: Json = dict(req.metadata) if same else {}
    if req.user is not None:
        meta = {"user_id": req.user, **meta}
    if meta or (same and req.extra.get("_metadata_empty")):
        body["metadata"] = meta


def _encode_thinking_and_output(req: ir.Request, body: Json, same: bool) -> None:
    if same and "thinking" in req.extra:
        body["thinking"] = req.extra["thinking"]
    elif req.thinking_budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": req.thinking_budget}
    config: Json = dict(req.extra.get("output_config", {})) if same else {}
    # Effort goes out only on the same format: a foreign reasoning_effort (Codex always sends
    # one) would fail on Claude models that have no effort setting.
    if same and req.reasoning_effort is not None:
        config["effort"] = req.reasoning_effort
    fmt = req.response_format
    if fmt is not None and fmt.type == "json_schema":
        if fmt.schema is None:
            raise TranslationError("response_format: json_schema without a schema")
        config["format"] = {"type": "json_schema", "schema": fmt.schema}
    elif fmt is not None and fmt.type == "json_object":
        raise TranslationError("response_format json_object: Anthropic has no JSON mode; use json_schema")
    if config or (same and "output_config" in req.extra):
        body["output_config"] = config
