"""Anthropic content blocks ↔ IR parts, shared by requests, responses and streams.

Every block keeps the keys the IR does not model in the part's `extra`, so a block decoded
here encodes back to the same JSON. Blocks the IR has no part for (server_tool_use,
web_search_tool_result, search_result…) are kept whole in the holder's `extra` under
`anthropic_blocks` as [position, block] pairs and put back at that position.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

import orjson

from lockgate import ir
from lockgate.errors import InvalidRequest, TranslationError

__all__ = [
    "NAME", "RESULT_KEYS", "UNKNOWN_BLOCKS", "decode_block", "decode_blocks", "encode_file", "encode_image",
    "encode_reasoning", "encode_text", "encode_tool_use", "foreign_signature", "insert_unknown", "shown_text",
    "tool_id", "tool_input",
]

NAME = "anthropic_messages"
UNKNOWN_BLOCKS = "anthropic_blocks"
Json = dict[str, Any]

_ID_OK = re.compile(r"[a-zA-Z0-9_-]+")
_ID_BAD = re.compile(r"[^a-zA-Z0-9_-]")
# Thinking blocks that lockgate made from another provider's reasoning carry that reasoning
# in the signature behind this prefix, so it can go back to its own provider (and never to
# Anthropic, which would reject the signature: peers.md §3.3 #22).
_FOREIGN_SIG = "lockgate1."


def tool_id(call_id: str) -> str:
    """A tool_use id Anthropic accepts (`^[a-zA-Z0-9_-]+$`). Foreign ids with other
    characters get them replaced plus a hash of the original, so two ids never collide and
    a call and its result map to the same id."""
    if _ID_OK.fullmatch(call_id):
        return call_id
    digest = hashlib.sha256(call_id.encode()).hexdigest()[:12]
    clean = _ID_BAD.sub("_", call_id)
    return f"{clean}_{digest}" if clean else f"toolu_{digest}"


def tool_input(call: ir.ToolCall) -> Json:
    """The `input` object of a tool_use. Anthropic wants a JSON object; anything else (a
    custom tool's raw string, text that is not JSON, a JSON array) is wrapped as
    {"input": <raw text>}, the same one-string-parameter shape custom tools are offered as."""
    raw = call.arguments
    if call.kind == "custom":
        return {"input": raw}
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"input": raw}
    return value if isinstance(value, dict) else {"input": raw}


# -- decoding ------------------------------------------------------------------------------

def _rest(block: Json, known: tuple[str, ...]) -> Json:
    return {k: v for k, v in block.items() if k not in known}


def _str(block: Json, key: str, where: str, required: bool = True) -> str:
    value = block.get(key)
    if isinstance(value, str):
        return value
    if value is None and not required:
        return ""
    raise InvalidRequest(f"{where}.{key}: expected a string", param=f"{where}.{key}")


def _decode_source_image(block: Json, where: str) -> ir.Image:
    src = block.get("source")
    if not isinstance(src, dict):
        raise InvalidRequest(f"{where}.source: expected an object", param=f"{where}.source")
    extra = _rest(block, ("type", "source", "cache_control"))
    cc = block.get("cache_control")
    if src.get("type") == "base64":
        return ir.Image(data=_str(src, "data", f"{where}.source"), media_type=src.get("media_type"),
                        cache_control=cc, extra=extra)
    if src.get("type") == "url":
        return ir.Image(url=_str(src, "url", f"{where}.source"), cache_control=cc, extra=extra)
    return ir.Image(cache_control=cc, extra={**extra, "source": src})


def _decode_document(block: Json, where: str) -> ir.File:
    src = block.get("source")
    if not isinstance(src, dict):
        raise InvalidRequest(f"{where}.source: expected an object", param=f"{where}.source")
    extra = _rest(block, ("type", "source", "cache_control", "title"))
    title = block.get("title")
    f = ir.File(filename=title if isinstance(title, str) else None, cache_control=block.get("cache_control"),
                extra=extra)
    kind = src.get("type")
    if kind == "base64":
        f.data, f.media_type = _str(src, "data", f"{where}.source"), src.get("media_type")
    elif kind == "text":
        # Plain text travels as base64 text/plain in the IR, the shape other formats' files use.
        f.data = base64.b64encode(_str(src, "data", f"{where}.source").encode()).decode()
        f.media_type = src.get("media_type") or "text/plain"
    elif kind == "url":
        f.url = _str(src, "url", f"{where}.source")
    elif kind == "file":
        f.file_id = _str(src, "file_id", f"{where}.source")
    else:
        f.extra["source"] = src
    if "title" in block and title is None:
        f.extra["title"] = None
    return f


def _decode_reasoning(block: Json, where: str) -> ir.Reasoning:
    if block["type"] == "redacted_thinking":
        return ir.Reasoning(encrypted=_str(block, "data", where), redacted=True, source=NAME,
                            extra=_rest(block, ("type", "data")))
    text = _str(block, "thinking", where)
    sig = _str(block, "signature", where)
    if sig.startswith(_FOREIGN_SIG):
        restored = _foreign_reasoning(sig, text)
        if restored is not None:
            return restored
    return ir.Reasoning(text=text, signature=sig, source=NAME, extra=_rest(block, ("type", "thinking", "signature")))


def _foreign_reasoning(sig: str, shown: str) -> ir.Reasoning | None:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(sig[len(_FOREIGN_SIG):].encode()))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("source"), str):
        return None
    return ir.Reasoning(text=data.get("text", shown), summary=data.get("summary", []),
                        signature=data.get("signature"), encrypted=data.get("encrypted"),
                        redacted=bool(data.get("redacted")), source=data["source"], item_id=data.get("item_id"),
                        extra=data.get("extra", {}))


def decode_block(block: Any, where: str) -> ir.Part | None:
    """One content block → a part, or None for a block the IR does not model."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise InvalidRequest(f"{where}: expected a content block object with a type", param=where)
    kind = block["type"]
    if kind == "text":
        return ir.Text(_str(block, "text", where), cache_control=block.get("cache_control"),
                       extra=_rest(block, ("type", "text", "cache_control")))
    if kind == "image":
        return _decode_source_image(block, where)
    if kind == "document":
        return _decode_document(block, where)
    if kind in ("thinking", "redacted_thinking"):
        return _decode_reasoning(block, where)
    if kind == "tool_use":
        try:
            args = orjson.dumps(block.get("input", {})).decode()
        except TypeError as e:
            raise InvalidRequest(f"{where}.input: not JSON ({e})", param=f"{where}.input") from None
        return ir.ToolCall(call_id=_str(block, "id", where), name=_str(block, "name", where), arguments=args,
                           extra=_rest(block, ("type", "id", "name", "input")))
    if kind == "tool_result":
        return _decode_tool_result(block, where)
    return None


def _decode_tool_result(block: Json, where: str) -> ir.ToolResult:
    extra = _rest(block, ("type", "tool_use_id", "content", "is_error", "cache_control"))
    content = block.get("content", "")
    if isinstance(content, list):
        parts, unknown = decode_blocks(content, f"{where}.content")
        if any(not isinstance(p, ir.Text | ir.Image | ir.File) for p in parts):
            raise InvalidRequest(f"{where}.content: only text, image and document blocks are allowed",
                                 param=f"{where}.content")
        if unknown:
            extra[UNKNOWN_BLOCKS] = unknown
        body: str | list[ir.Text | ir.Image | ir.File] = [
            p for p in parts if isinstance(p, ir.Text | ir.Image | ir.File)]
    elif isinstance(content, str):
        body = content
    else:
        raise InvalidRequest(f"{where}.content: expected a string or a list of blocks", param=f"{where}.content")
    if "content" not in block:
        extra["no_content"] = True
    return ir.ToolResult(call_id=_str(block, "tool_use_id", where), content=body,
                         is_error=bool(block.get("is_error", False)), cache_control=block.get("cache_control"),
                         extra=extra | ({"is_error": block["is_error"]} if block.get("is_error") is False else {}))


def decode_blocks(blocks: list[Any], where: str) -> tuple[list[ir.Part], list[list[Any]]]:
    """Blocks → parts, plus the [position, block] pairs of blocks the IR does not model."""
    parts: list[ir.Part] = []
    unknown: list[list[Any]] = []
    for i, block in enumerate(blocks):
        part = decode_block(block, f"{where}.{i}")
        if part is None:
            unknown.append([i, block])
        else:
            parts.append(part)
    return parts, unknown


# -- encoding ------------------------------------------------------------------------------

def _cc(out: Json, cache_control: Json | None) -> Json:
    if cache_control is not None:
        out["cache_control"] = cache_control
    return out


# Block fields kept in a part's `extra` that go back out. A part decoded by another format
# has that format's fields there (OpenAI annotations, a Responses item status, a Gemini
# thoughtSignature) and Anthropic rejects unknown fields, so only these are emitted.
_TEXT_KEYS = ("citations",)
_IMAGE_KEYS = ("source",)
_DOCUMENT_KEYS = ("source", "title", "context", "citations")
_TOOL_USE_KEYS = ("cache_control", "caller")
RESULT_KEYS = ("toolset_name", "is_error")


def _ours(extra: Json, keys: tuple[str, ...]) -> Json:
    return {k: v for k, v in extra.items() if k in keys}


def encode_text(text: ir.Text) -> Json:
    return _cc({"type": "text", "text": text.text, **_ours(text.extra, _TEXT_KEYS)}, text.cache_control)


def _data_url(url: str) -> tuple[str, str] | None:
    """`data:<media>;base64,<data>` → (media type, data)."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")], data


def encode_image(img: ir.Image) -> Json:
    extra = _ours(img.extra, _IMAGE_KEYS)
    src = extra.pop("source", None)
    if src is None:
        if img.data is not None:
            src = {"type": "base64", "media_type": img.media_type or "image/png", "data": img.data}
        elif img.url is not None and (inline := _data_url(img.url)) is not None:
            src = {"type": "base64", "media_type": inline[0], "data": inline[1]}
        elif img.url is not None:
            src = {"type": "url", "url": img.url}
        else:
            raise TranslationError("an image without data or URL cannot be sent to Anthropic")
    return _cc({"type": "image", "source": src, **extra}, img.cache_control)


def encode_file(f: ir.File) -> Json:
    extra = _ours(f.extra, _DOCUMENT_KEYS)
    src = extra.pop("source", None)
    data, media = f.data, f.media_type
    if src is None and data is None and f.url is not None and (inline := _data_url(f.url)) is not None:
        media, data = inline
    if src is not None:
        pass
    elif f.file_id is not None:
        src = {"type": "file", "file_id": f.file_id}
    elif data is not None and media is not None and media.startswith("text/plain"):
        try:
            text = base64.b64decode(data, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as e:
            raise TranslationError("a text/plain document whose data is not base64 UTF-8 text") from e
        src = {"type": "text", "media_type": "text/plain", "data": text}
    elif data is not None:
        src = {"type": "base64", "media_type": media or "application/pdf", "data": data}
    elif f.url is not None:
        src = {"type": "url", "url": f.url}
    else:
        raise TranslationError("a document without data, URL or file id cannot be sent to Anthropic")
    out: Json = {"type": "document", "source": src}
    if f.filename is not None:
        out["title"] = f.filename
    out.update(extra)
    return _cc(out, f.cache_control)


def encode_tool_use(call: ir.ToolCall) -> Json:
    return {"type": "tool_use", "id": tool_id(call.call_id), "name": call.name, "input": tool_input(call),
            **_ours(call.extra, _TOOL_USE_KEYS)}


def encode_reasoning(r: ir.Reasoning, foreign: bool) -> Json | None:
    """Anthropic reasoning → its block exactly as received. Other reasoning → None on the
    way to Anthropic (`foreign=False`), or, on the way to an Anthropic client
    (`foreign=True`), a thinking block that shows its text and carries the original in the
    signature, so the client's next turn can return it to the provider that made it."""
    if r.source == NAME:
        if r.redacted:
            return {"type": "redacted_thinking", "data": r.encrypted or "", **r.extra}
        if not r.signature:
            return None  # a thinking block without its signature is rejected (peers.md §3.3 #22)
        return {"type": "thinking", "thinking": r.text, "signature": r.signature, **r.extra}
    if not foreign or not (r.text or r.summary or r.encrypted or r.signature):
        return None
    return {"type": "thinking", "thinking": shown_text(r), "signature": foreign_signature(r)}


def shown_text(r: ir.Reasoning) -> str:
    return r.text or "\n\n".join(r.summary)


def foreign_signature(r: ir.Reasoning) -> str:
    payload: Json = {"source": r.source or "unknown"}
    if r.text != shown_text(r):
        payload["text"] = r.text
    for key, value in (("summary", r.summary), ("signature", r.signature), ("encrypted", r.encrypted),
                       ("redacted", r.redacted), ("item_id", r.item_id), ("extra", r.extra)):
        if value:
            payload[key] = value
    return _FOREIGN_SIG + base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


def insert_unknown(blocks: list[Json], unknown: Any) -> list[Json]:
    """Put blocks kept whole in `extra` back at their positions."""
    if not unknown:
        return blocks
    out = list(blocks)
    for pos, block in unknown:
        out.insert(min(int(pos), len(out)), dict(block))
    return out
