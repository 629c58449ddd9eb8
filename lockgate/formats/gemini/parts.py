"""Gemini `Part` objects ↔ IR parts, shared by the request, response and stream modules.

A Gemini part holds exactly one datum (`text`, `inlineData`, `fileData`, `functionCall`,
`functionResponse`…) plus optional `thought` and `thoughtSignature`. Where the signature
lives in the IR:
- on a `functionCall` part: `ToolCall.extra["thoughtSignature"]`;
- on a thought part (`thought: true`): `Reasoning.signature` (with `source="gemini"`);
- on a plain text part: `Text.extra["thoughtSignature"]`.
Each is sent back on the same kind of part, byte for byte.
"""

from __future__ import annotations

import hashlib
import mimetypes
from typing import Any

import orjson

from lockgate import ir
from lockgate.errors import TranslationError

__all__ = [
    "FORMAT_NAME", "SIGNATURE", "call_id", "file_part", "function_call_part", "image_part", "ir_from_part",
    "tool_arguments",
]

Json = dict[str, Any]

FORMAT_NAME = "gemini"
SIGNATURE = "thoughtSignature"


def call_id(token: str, n: int) -> str:
    """A deterministic id for the n-th function call of a response that gave none (models
    before Gemini 3). The response id (or a hash of the body) keeps ids unique across turns,
    which clients that pair by id (Anthropic, Responses) need."""
    return f"call_{hashlib.sha256(token.encode()).hexdigest()[:12]}_{n}"


# -- IR → Gemini ----------------------------------------------------------------------------

def image_part(img: ir.Image) -> Json:
    if img.data is not None:
        return {"inlineData": {"mimeType": img.media_type or "image/png", "data": img.data}}
    url = img.url or ""
    if url.startswith("data:"):
        return _data_url(url)
    return _file_data(url, img.media_type)


def file_part(f: ir.File) -> Json:
    if f.data is not None:
        return {"inlineData": {"mimeType": f.media_type or "application/pdf", "data": f.data}}
    if f.url and f.url.startswith("data:"):
        return _data_url(f.url)
    uri = f.file_id or f.url
    if not uri:
        raise TranslationError("a file part needs data, a URL or a file id for Gemini")
    return _file_data(uri, f.media_type or _guess_type(f.filename))


def _data_url(url: str) -> Json:
    head, _, data = url.partition(",")
    mime = head[5:].split(";", 1)[0] or "application/octet-stream"
    if ";base64" not in head:
        raise TranslationError("Gemini takes inline data only as base64 data: URLs")
    return {"inlineData": {"mimeType": mime, "data": data}}


def _file_data(uri: str, media_type: str | None) -> Json:
    mime = media_type or _guess_type(uri.split("?", 1)[0])
    fd: Json = {"fileUri": uri}
    if mime:  # Files API URIs carry their own type; other URIs need one
        fd = {"mimeType": mime, "fileUri": uri}
    return {"fileData": fd}


def _guess_type(name: str | None) -> str | None:
    return mimetypes.guess_type(name)[0] if name else None


def tool_arguments(call: ir.ToolCall) -> Json:
    """The `args` object of a call. A custom tool's raw input becomes {"input": raw}, the
    same one-string-parameter function the gateway offers in its place."""
    if call.kind == "custom":
        return {"input": call.arguments}
    if not call.arguments.strip():
        return {}
    try:
        args = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        raise TranslationError(
            f"tool call {call.call_id} ({call.name}) has arguments that are not JSON; Gemini needs an object",
            param="messages") from None
    if not isinstance(args, dict):
        raise TranslationError(f"tool call {call.call_id} ({call.name}) has arguments that are not a JSON object; "
                               "Gemini needs an object", param="messages")
    return args


def function_call_part(call: ir.ToolCall) -> Json:
    fc: Json = {"name": call.name, "args": tool_arguments(call)}
    if call.call_id:
        fc["id"] = call.call_id
    part: Json = {"functionCall": fc}
    sig = call.extra.get(SIGNATURE)
    if isinstance(sig, str):
        part[SIGNATURE] = sig
    return part


# -- Gemini → IR ----------------------------------------------------------------------------

def ir_from_part(part: Json, token: str, n_calls: int) -> ir.Part | None:
    """One response part as an IR part (None for parts the IR has no place for, such as
    server-side code execution). `n_calls` numbers calls that come without an id."""
    sig = part.get(SIGNATURE)
    if "functionCall" in part:
        fc = part["functionCall"] or {}
        extra: Json = {SIGNATURE: sig} if isinstance(sig, str) else {}
        return ir.ToolCall(call_id=fc.get("id") or call_id(token, n_calls), name=fc.get("name", ""),
                           arguments=orjson.dumps(fc.get("args") or {}).decode(), extra=extra)
    if "text" in part:
        text = part.get("text") or ""
        if part.get("thought"):
            return ir.Reasoning(text=text, signature=sig if isinstance(sig, str) else None, source=FORMAT_NAME)
        return ir.Text(text=text, extra={SIGNATURE: sig} if isinstance(sig, str) else {})
    if "inlineData" in part:
        blob = part["inlineData"] or {}
        mime = blob.get("mimeType")
        if isinstance(mime, str) and mime.startswith("image/"):
            return ir.Image(data=blob.get("data", ""), media_type=mime)
        return ir.File(data=blob.get("data", ""), media_type=mime)
    if "thought" in part and isinstance(sig, str):
        # A bare signature-bearing thought part with no text.
        return ir.Reasoning(signature=sig, source=FORMAT_NAME)
    return None
