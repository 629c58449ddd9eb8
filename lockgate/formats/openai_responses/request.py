"""A Responses request body ↔ `ir.Request`.

Every field the IR does not model (store, include, prompt_cache_key, client_metadata,
previous_response_id, truncation, service_tier, stream_options, text.verbosity, the
reasoning object's other keys, Codex's WebSocket `type`/`generate`…) stays in `extra` and is
given back when the request is encoded for this format again.
"""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.errors import InvalidRequest, TranslationError
from lockgate.formats.openai_responses.common import NAME, Json, need_obj, note, public, rest, set_note
from lockgate.formats.openai_responses.items import decode_input, encode_input
from lockgate.formats.wire import present

__all__ = ["decode_request", "encode_request", "encode_text", "encode_tool_choice", "encode_tools"]

_FUNCTION_FIELDS = ("type", "name", "description", "parameters", "strict")
_CUSTOM_FIELDS = ("type", "name", "description", "format")


# -- tools -------------------------------------------------------------------------------------

def _decode_tools(tools: Any, req: ir.Request) -> None:
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list", param="tools")
    order = ""
    for i, raw in enumerate(tools):
        t = need_obj(raw, f"tools[{i}]")
        kind = t.get("type")
        if kind in ("function", "custom"):
            name = t.get("name")
            if not isinstance(name, str):
                raise InvalidRequest(f"tools[{i}].name must be a string", param=f"tools[{i}].name")
            req.tools.append(ir.Tool(
                name=name,
                description=t.get("description"),
                parameters=t.get("parameters") if kind == "function" else None,
                kind=kind,
                strict=t.get("strict") if kind == "function" else None,
                format=t.get("format") if kind == "custom" else None,
                extra=rest(t, _FUNCTION_FIELDS if kind == "function" else _CUSTOM_FIELDS),
            ))
            order += "t"
        elif isinstance(kind, str):  # namespace, tool_search, web_search, local_shell, mcp…
            req.builtin_tools.append(ir.BuiltinTool(type=kind, raw=t, source=NAME))
            order += "b"
        else:
            raise InvalidRequest(f"tools[{i}].type must be a string", param=f"tools[{i}].type")
    # Tool order is part of the cached prompt prefix: keep it exactly.
    set_note(req.extra, "tool_order", order)


def _encode_tool(tool: ir.Tool, ours: bool) -> Json:
    out: Json = present(type=tool.kind, name=tool.name, description=tool.description)
    if tool.kind == "function":
        out.update(present(parameters=tool.parameters, strict=tool.strict))
    elif tool.format is not None:
        out["format"] = tool.format
    if ours:
        out.update(tool.extra)
    return out


def encode_tools(req: ir.Request, ours: bool) -> list[Json] | None:
    """The `tools` list, in the client's order when it came from this format; None when
    there were none and the request had no `tools` key."""
    tools = [_encode_tool(t, ours) for t in req.tools]
    builtins = [b.raw for b in req.builtin_tools if b.source == NAME]
    order = note(req.extra, "tool_order") if ours else None
    if isinstance(order, str) and order.count("t") == len(tools) and order.count("b") == len(builtins):
        it_t, it_b = iter(tools), iter(builtins)
        return [next(it_t) if c == "t" else next(it_b) for c in order]
    if not tools and not builtins and order is None:
        return None
    return tools + builtins


def _decode_tool_choice(tc: Any) -> ir.ToolChoice:
    if tc in ("auto", "none", "required"):
        return ir.ToolChoice(mode=tc)
    t = need_obj(tc, "tool_choice")
    kind = t.get("type")
    if kind in ("function", "custom") and isinstance(t.get("name"), str):
        return ir.ToolChoice(mode="tool", name=t["name"], extra={"raw": t})
    if kind == "allowed_tools":
        return ir.ToolChoice(mode="required" if t.get("mode") == "required" else "auto", extra={"raw": t})
    # a built-in tool (web_search_preview, mcp, apply_patch, shell…): another format just
    # lets the model choose
    return ir.ToolChoice(mode="auto", extra={"raw": t})


def encode_tool_choice(choice: ir.ToolChoice, req: ir.Request, ours: bool) -> Any:
    if ours and "raw" in choice.extra:
        return choice.extra["raw"]
    if choice.mode != "tool":
        return choice.mode
    tool = next((t for t in req.tools if t.name == choice.name), None)
    return {"type": tool.kind if tool else "function", "name": choice.name}


# -- text.format ------------------------------------------------------------------------------

def _decode_format(f: Any) -> ir.ResponseFormat:
    f = need_obj(f, "text.format")
    kind = f.get("type")
    if kind == "json_schema":
        return ir.ResponseFormat(
            type="json_schema", name=f.get("name"), schema=f.get("schema"), strict=f.get("strict"),
            description=f.get("description"),
        )
    if kind in ("text", "json_object"):
        return ir.ResponseFormat(type=kind)
    raise InvalidRequest("text.format.type must be text, json_object or json_schema", param="text.format.type")


def _encode_format(rf: ir.ResponseFormat) -> Json:
    out: Json = {"type": rf.type}
    if rf.type == "json_schema":
        out.update(present(name=rf.name, description=rf.description, schema=rf.schema, strict=rf.strict))
    return out


def encode_text(req: ir.Request, ours: bool) -> Json | None:
    text = dict(req.extra["text"]) if ours and isinstance(req.extra.get("text"), dict) else None
    if req.response_format is not None:
        text = text if text is not None else {}
        text["format"] = _encode_format(req.response_format)
    return text


# -- request --------------------------------------------------------------------------------

def _budget_effort(budget: int) -> str | None:
    # Anthropic/Gemini thinking budgets → the nearest OpenAI effort (no exact mapping exists).
    if budget <= 0:
        return None
    return "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"


def decode_request(body: Json, key: bytes | None = None) -> ir.Request:
    body = need_obj(body, "body")
    model = body.get("model")
    if not isinstance(model, str):
        raise InvalidRequest("model must be a string", param="model")
    if "input" not in body and "previous_response_id" not in body and "prompt" not in body:
        raise InvalidRequest("input is required", param="input")
    req = ir.Request(model=model, messages=decode_input(body.get("input", []), key), source=NAME)
    extra = req.extra
    for k, v in body.items():
        if k in ("model", "input") or v is None:
            if v is None:
                extra[k] = None
            continue
        if k == "instructions" and isinstance(v, str):
            req.system = [ir.Text(v)]
        elif k == "tools" and v:
            _decode_tools(v, req)
        elif k == "tool_choice":
            req.tool_choice = _decode_tool_choice(v)
        elif k == "parallel_tool_calls" and isinstance(v, bool):
            req.parallel_tool_calls = v
        elif k == "stream" and v is True:
            req.stream = True
        elif k == "max_output_tokens" and isinstance(v, int):
            req.max_output_tokens = v
        elif k in ("temperature", "top_p") and isinstance(v, int | float) and not isinstance(v, bool):
            setattr(req, k, v)
        elif k == "metadata" and isinstance(v, dict) and v:
            req.metadata = v
        elif k == "user" and isinstance(v, str):
            req.user = v
        elif k == "text" and isinstance(v, dict):
            if v.get("format") is not None:
                req.response_format = _decode_format(v["format"])
            extra["text"] = rest(v, ("format",))
        elif k == "reasoning" and isinstance(v, dict):
            if isinstance(v.get("effort"), str):
                req.reasoning_effort = v["effort"]
            if isinstance(v.get("summary"), str):
                req.reasoning_summary = v["summary"]
            extra["reasoning"] = rest(v, ("effort", "summary"))
        else:
            extra[k] = v
    if isinstance(body.get("input"), str):
        set_note(extra, "input", "string")
    return req


def encode_request(req: ir.Request) -> Json:
    """The body for a Responses provider (OpenAI, Azure, a compatible server)."""
    ours = req.source == NAME
    if req.stop:
        raise TranslationError("OpenAI Responses has no stop sequences", param="stop")
    extra = req.extra if ours else {}
    body: Json = {"model": req.model}
    if req.system:
        body["instructions"] = "\n\n".join(t.text for t in req.system)
    if ours and note(extra, "input") == "string" and _single_text(req.messages) is not None:
        body["input"] = _single_text(req.messages)
    else:
        body["input"] = encode_input(req.messages, ours)
    tools = encode_tools(req, ours)
    if tools is not None:
        body["tools"] = tools
    if req.tool_choice is not None:
        body["tool_choice"] = encode_tool_choice(req.tool_choice, req, ours)
    if req.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.stream:
        body["stream"] = True
    for k in ("max_output_tokens", "temperature", "top_p", "user"):
        if getattr(req, k) is not None:
            body[k] = getattr(req, k)
    if req.metadata:
        body["metadata"] = req.metadata
    text = encode_text(req, ours)
    if text is not None:
        body["text"] = text
    reasoning = _encode_reasoning_config(req, ours)
    if reasoning is not None:
        body["reasoning"] = reasoning
    for k, v in public(extra).items():  # store, include, prompt_cache_key, client_metadata…
        body.setdefault(k, v)
    return body


def _encode_reasoning_config(req: ir.Request, ours: bool) -> Json | None:
    base = req.extra.get("reasoning", {}) if ours else {}
    if base is None:
        return None if req.reasoning_effort is None and req.reasoning_summary is None else {}
    out: Json = {}
    effort = req.reasoning_effort
    if effort is None and req.thinking_budget is not None and not ours:
        effort = _budget_effort(req.thinking_budget)
    if effort is not None:
        out["effort"] = effort
    if req.reasoning_summary is not None:
        out["summary"] = req.reasoning_summary
    out.update(base)
    if not out and not (ours and "reasoning" in req.extra):
        return None
    return out


def _single_text(messages: list[ir.Message]) -> str | None:
    if len(messages) == 1 and messages[0].role == "user" and len(messages[0].parts) == 1:
        part = messages[0].parts[0]
        if isinstance(part, ir.Text):
            return part.text
    return None
