"""Content parts: message content and tool-call outputs ↔ IR Text/Refusal/Image/File."""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.errors import InvalidRequest, TranslationError
from lockgate.formats.openai_responses.common import NAME, Json, data_url, need_str, public, rest, split_data_url
from lockgate.formats.wire import present

__all__ = ["decode_content", "decode_output", "encode_content", "encode_output"]

ContentPart = ir.Text | ir.Refusal | ir.Image | ir.File | ir.Opaque


def _text_type(role: str) -> str:
    return "output_text" if role == "assistant" else "input_text"


def _image(part: Json, where: str) -> ir.Image:
    url = part.get("image_url")
    img = ir.Image(detail=part.get("detail"), file_id=part.get("file_id"))
    if isinstance(url, str):
        inline = split_data_url(url)
        if inline:
            img.media_type, img.data = inline
        else:
            img.url = url
    elif img.file_id is None:
        raise InvalidRequest(f"{where} needs image_url or file_id", param=where)
    return img


def _file(part: Json) -> ir.File:
    f = ir.File(url=part.get("file_url"), file_id=part.get("file_id"), filename=part.get("filename"))
    data = part.get("file_data")
    if isinstance(data, str):
        inline = split_data_url(data)
        if inline:
            f.media_type, f.data = inline
        else:
            f.data = data  # bare base64: given back as it came
    return f


def decode_content(content: Any, role: str, where: str) -> list[ContentPart]:
    if isinstance(content, str):
        return [ir.Text(content)]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or a list", param=f"{where}.content")
    parts: list[ContentPart] = []
    for i, part in enumerate(content):
        w = f"{where}.content[{i}]"
        if not isinstance(part, dict):
            raise InvalidRequest(f"{w} must be an object", param=w)
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            extra = rest(part, ("type", "text"))
            if kind != _text_type(role):
                extra["type"] = kind
            parts.append(ir.Text(need_str(part, "text", w), extra=extra))
        elif kind == "refusal":
            parts.append(ir.Refusal(need_str(part, "refusal", w)))
        elif kind == "input_image":
            parts.append(_image(part, w))
        elif kind == "input_file":
            parts.append(_file(part))
        else:  # a content type this module does not know: kept for the same format
            parts.append(ir.Opaque(raw=part, source=NAME))
    return parts


def _encode_image(img: ir.Image) -> Json:
    out: Json = {"type": "input_image"}
    if img.data is not None:
        out["image_url"] = data_url(img.media_type or "image/png", img.data)
    elif img.url is not None:
        out["image_url"] = img.url
    out.update(present(file_id=img.file_id, detail=img.detail))
    return out


def _encode_file(f: ir.File) -> Json:
    out: Json = {"type": "input_file"}
    if f.data is not None:
        out["file_data"] = data_url(f.media_type, f.data) if f.media_type else f.data
    out.update(present(file_url=f.url, file_id=f.file_id, filename=f.filename))
    return out


def encode_content(parts: list[ContentPart], role: str, ours: bool) -> list[Json]:
    """Message content parts. `ours`: the parts were decoded by this format, so their
    `extra` holds Responses fields to give back."""
    out: list[Json] = []
    for p in parts:
        if isinstance(p, ir.Text):
            extra = public(p.extra) if ours else {}
            item: Json = {"type": _text_type(role), "text": p.text}
            if role == "assistant" and not ours:
                item["annotations"] = []
            item.update(extra)
            out.append(item)
        elif isinstance(p, ir.Refusal):
            out.append({"type": "refusal", "refusal": p.text})
        elif isinstance(p, ir.Image | ir.File):
            if role == "assistant":
                raise TranslationError("OpenAI Responses assistant messages cannot carry images or files")
            out.append(_encode_image(p) if isinstance(p, ir.Image) else _encode_file(p))
        elif p.source == NAME:
            out.append(p.raw)
    return out


def decode_output(output: Any, where: str) -> str | list[ir.Text | ir.Image | ir.File]:
    """A tool call's `output`: a string, or a list of input_text/input_image/input_file."""
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        raise InvalidRequest(f"{where}.output must be a string or a list", param=f"{where}.output")
    parts: list[ir.Text | ir.Image | ir.File] = []
    for i, part in enumerate(output):
        w = f"{where}.output[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "input_text":
            parts.append(ir.Text(need_str(part, "text", w), extra=rest(part, ("type", "text"))))
        elif kind == "input_image":
            parts.append(_image(part, w))
        elif kind == "input_file":
            parts.append(_file(part))
        else:
            raise InvalidRequest(f"{w}.type must be input_text, input_image or input_file", param=f"{w}.type")
    return parts


def encode_output(content: str | list[ir.Text | ir.Image | ir.File], ours: bool) -> str | list[Json]:
    if isinstance(content, str):
        return content
    out: list[Json] = []
    for p in content:
        if isinstance(p, ir.Text):
            out.append({"type": "input_text", "text": p.text, **(public(p.extra) if ours else {})})
        elif isinstance(p, ir.Image):
            out.append(_encode_image(p))
        else:
            out.append(_encode_file(p))
    return out
