"""IR request → a Converse / ConverseStream body (the model id goes in the URL, not here)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from lockgate import ir
from lockgate.errors import TranslationError
from lockgate.formats.wire import present

__all__ = ["encode_request"]

Json = dict[str, Any]
NAME = "bedrock_converse"

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                 "image/webp": "webp"}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf", "text/csv": "csv", "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html", "text/plain": "txt", "text/markdown": "md",
}
_DATA_URL = re.compile(r"^data:([^;,]+);base64,(.*)$", re.S)
_NAME_BAD = re.compile(r"[^A-Za-z0-9\s\-()\[\]]+")


def encode_request(req: ir.Request) -> Json:
    body: Json = {"messages": _messages(req.messages)}
    system = _system(req)
    if system:
        body["system"] = system
    inference = _inference(req)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(req, body["messages"])
    if tool_config:
        body["toolConfig"] = tool_config
    extra = _additional_fields(req)
    if extra:
        body["additionalModelRequestFields"] = extra
    output = _output_config(req)
    if output:
        body["outputConfig"] = output
    if req.metadata:
        # Bedrock's requestMetadata: string pairs kept with the invocation log.
        body["requestMetadata"] = dict(req.metadata)
    return body


# -- messages ---------------------------------------------------------------------------------

def _messages(messages: list[ir.Message]) -> list[Json]:
    """Converse wants strict user/assistant alternation: tool results go into user turns,
    same-role neighbours merge (tool results first, as Claude requires), and empty turns
    vanish. No call or result is dropped."""
    turns: list[tuple[str, list[Json], list[Json]]] = []  # role, tool results, other blocks
    for i, msg in enumerate(messages):
        if msg.role in ("system", "developer"):
            continue  # moved into `system` (see _system)
        role = "assistant" if msg.role == "assistant" else "user"
        results: list[Json] = []
        blocks: list[Json] = []
        for j, part in enumerate(msg.parts):
            where = f"messages[{i}].parts[{j}]"
            if isinstance(part, ir.ToolResult):
                results.append({"toolResult": _tool_result(part, where)})
                _cache_point(part.cache_control, results)
            else:
                blocks.extend(_block(part, role, where))
        if not results and not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(results)
            turns[-1][2].extend(blocks)
        else:
            turns.append((role, results, blocks))
    return [{"role": role, "content": results + blocks} for role, results, blocks in turns]


def _block(part: ir.Part, role: str, where: str) -> list[Json]:
    out: list[Json] = []
    if isinstance(part, ir.Text):
        if part.text:  # Converse rejects blank text blocks
            out.append({"text": part.text})
        _cache_point(part.cache_control, out)
    elif isinstance(part, ir.Refusal):
        if part.text:
            out.append({"text": part.text})
    elif isinstance(part, ir.Image):
        out.append({"image": _image(part, where)})
        _cache_point(part.cache_control, out)
    elif isinstance(part, ir.File):
        out.append({"document": _document(part, where)})
        _cache_point(part.cache_control, out)
    elif isinstance(part, ir.ToolCall):
        if role != "assistant":
            raise TranslationError(f"{where}: a tool call must sit in an assistant message", param=where)
        out.append({"toolUse": {"toolUseId": part.call_id, "name": part.name, "input": _call_input(part, where)}})
    elif isinstance(part, ir.Reasoning):
        block = _reasoning(part)
        if block is not None:
            out.append({"reasoningContent": block})
    return out


def _call_input(call: ir.ToolCall, where: str) -> Any:
    if call.kind == "custom":
        return {"input": call.arguments}  # the gateway's custom-tool convention: one string parameter
    if not call.arguments.strip():
        return {}
    try:
        return orjson.loads(call.arguments)
    except orjson.JSONDecodeError as e:
        raise TranslationError(f"{where}: tool call {call.name!r} has arguments that are not JSON: {e}",
                               param=where) from e


def _reasoning(part: ir.Reasoning) -> Json | None:
    # Only reasoning that Bedrock produced goes back, byte for byte (its signature is checked).
    if part.source != NAME:
        return None
    if part.redacted:
        return {"redactedContent": part.encrypted or ""}
    text: Json = {"text": part.text}
    if part.signature is not None:
        text["signature"] = part.signature
    return {"reasoningText": text}


def _tool_result(part: ir.ToolResult, where: str) -> Json:
    content: list[Json] = []
    if isinstance(part.content, str):
        if part.content:
            content.append({"text": part.content})
    else:
        for k, p in enumerate(part.content):
            if isinstance(p, ir.Text):
                if p.text:
                    content.append({"text": p.text})
            elif isinstance(p, ir.Image):
                content.append({"image": _image(p, f"{where}.content[{k}]")})
            else:
                content.append({"document": _document(p, f"{where}.content[{k}]")})
    out: Json = {"toolUseId": part.call_id, "content": content}
    if part.is_error:
        out["status"] = "error"
    return out


def _image(img: ir.Image, where: str) -> Json:
    data, media = img.data, img.media_type
    if data is None and img.url:
        if img.url.startswith("s3://"):
            fmt = _image_format(media or _guess(img.url), where)
            return {"format": fmt, "source": {"s3Location": {"uri": img.url}}}
        m = _DATA_URL.match(img.url)
        if not m:
            raise TranslationError(f"{where}: Bedrock takes images inline or from S3, not by URL", param=where)
        media, data = m.group(1), m.group(2)
    if data is None:
        raise TranslationError(f"{where}: image has no data", param=where)
    return {"format": _image_format(media, where), "source": {"bytes": data}}


def _image_format(media: str | None, where: str) -> str:
    fmt = IMAGE_FORMATS.get((media or "").lower())
    if fmt is None:
        raise TranslationError(f"{where}: Bedrock images are png, jpeg, gif or webp, not {media!r}", param=where)
    return fmt


def _guess(url: str) -> str:
    ext = url.rsplit(".", 1)[-1].lower()
    return {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
            "webp": "image/webp"}.get(ext, "")


def _document(f: ir.File, where: str) -> Json:
    data, media = f.data, f.media_type
    if data is None and f.url:
        m = _DATA_URL.match(f.url)
        if m:
            media, data = m.group(1), m.group(2)
        elif f.url.startswith("s3://"):
            return {"format": _doc_format(media, where), "name": _doc_name(f), "source": {"s3Location": {"uri": f.url}}}
    if data is None:
        raise TranslationError(f"{where}: Bedrock takes documents inline or from S3, not by URL or file id",
                               param=where)
    return {"format": _doc_format(media, where), "name": _doc_name(f), "source": {"bytes": data}}


def _doc_format(media: str | None, where: str) -> str:
    fmt = DOCUMENT_FORMATS.get((media or "").lower())
    if fmt is None:
        raise TranslationError(f"{where}: Bedrock cannot take a document of type {media!r}", param=where)
    return fmt


def _doc_name(f: ir.File) -> str:
    # Names allow letters, digits, single spaces, hyphens, parentheses and brackets only.
    stem = (f.filename or "document").rsplit(".", 1)[0]
    name = " ".join(_NAME_BAD.sub("-", stem).split())[:200]
    return name or "document"


def _cache_point(cache_control: Json | None, out: list[Json]) -> None:
    if cache_control is None:
        return
    point: Json = {"type": "default"}
    if cache_control.get("ttl") == "1h":
        point["ttl"] = "1h"
    out.append({"cachePoint": point})


# -- system, inference settings, tools ----------------------------------------------------

def _system(req: ir.Request) -> list[Json]:
    out: list[Json] = []
    texts = list(req.system)
    # Converse has no system turns: developer/system messages join the system prompt in order.
    for msg in req.messages:
        if msg.role in ("system", "developer"):
            texts.extend(p for p in msg.parts if isinstance(p, ir.Text))
    for t in texts:
        if t.text:
            out.append({"text": t.text})
        _cache_point(t.cache_control, out)
    return out


def _inference(req: ir.Request) -> Json:
    out: Json = present(maxTokens=req.max_output_tokens, temperature=req.temperature, topP=req.top_p)
    if req.stop:
        out["stopSequences"] = list(req.stop)
    return out


def _tool_config(req: ir.Request, messages: list[Json]) -> Json | None:
    tools: list[Json] = []
    for t in req.tools:
        spec: Json = {"name": t.name}
        if t.description:
            spec["description"] = t.description
        if t.kind == "custom":
            schema: Json = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}
        else:
            schema = t.parameters or {"type": "object", "properties": {}}
        spec["inputSchema"] = {"json": schema}
        if t.strict is not None:
            spec["strict"] = t.strict
        tools.append({"toolSpec": spec})
        _cache_point(t.cache_control, tools)
    used = _history_tool_names(messages)
    choice = req.tool_choice.mode if req.tool_choice else "auto"
    if not tools and not used:
        return None
    if choice == "none" and not used:
        return None  # Converse has no "none": offering no tools is the faithful equivalent
    # Converse refuses toolUse/toolResult blocks without a toolConfig: name the tools the
    # history used (an open schema) when the request itself offers none.
    offered = {t["toolSpec"]["name"] for t in tools if "toolSpec" in t}
    for name in used:
        if name not in offered:
            tools.append({"toolSpec": {"name": name, "inputSchema": {"json": {"type": "object"}}}})
    out: Json = {"tools": tools}
    if req.tool_choice is not None and choice != "none":
        if choice == "auto":
            out["toolChoice"] = {"auto": {}}
        elif choice == "required":
            out["toolChoice"] = {"any": {}}
        else:
            if not req.tool_choice.name:
                raise TranslationError("tool_choice names no tool", param="tool_choice")
            out["toolChoice"] = {"tool": {"name": req.tool_choice.name}}
    return out


def _history_tool_names(messages: list[Json]) -> list[str]:
    names: list[str] = []
    for m in messages:
        for b in m["content"]:
            if "toolUse" in b and b["toolUse"]["name"] not in names:
                names.append(b["toolUse"]["name"])
    return names


def _is_anthropic(model: str) -> bool:
    return "anthropic." in model or model.startswith("claude")


def _additional_fields(req: ir.Request) -> Json:
    out: Json = {}
    if req.thinking_budget and _is_anthropic(req.model):
        out["thinking"] = {"type": "enabled", "budget_tokens": req.thinking_budget}
    if req.top_k is not None:
        out["top_k"] = req.top_k
    return out


def _output_config(req: ir.Request) -> Json | None:
    rf = req.response_format
    if rf is None or rf.type == "text":
        return None
    schema = rf.schema if rf.type == "json_schema" and rf.schema is not None else {"type": "object"}
    js: Json = {"schema": orjson.dumps(schema).decode()}
    if rf.name:
        js["name"] = rf.name
    if rf.description:
        js["description"] = rf.description
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": js}}}
