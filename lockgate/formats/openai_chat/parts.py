"""Content parts of chat messages: wire ↔ IR."""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.errors import InvalidRequest, TranslationError

from .common import Json, data_url, obj, split_data_url, text_field

# input_audio names a format; the IR keeps a media type.
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}
_AUDIO_FORMATS = {v: k for k, v in _AUDIO_TYPES.items()}


def decode_text(raw: Json, where: str) -> ir.Text:
    extra = {k: v for k, v in raw.items() if k not in ("type", "text", "cache_control")}
    return ir.Text(text_field(raw.get("text"), f"{where}.text"), cache_control=raw.get("cache_control"),
                   extra=extra)


def encode_text(part: ir.Text, same: bool = True) -> Json:
    """`same`: the IR came from this format, so its extras and markers go back as they came."""
    out: Json = {"type": "text", "text": part.text, **(part.extra if same else {})}
    if same and part.cache_control is not None:
        out["cache_control"] = part.cache_control
    return out


def decode_part(raw: Any, where: str) -> ir.Text | ir.Image | ir.File | ir.Refusal:
    """One element of a `content` list."""
    raw = obj(raw, where)
    kind = raw.get("type")
    if kind == "text":
        return decode_text(raw, where)
    if kind == "refusal":
        return ir.Refusal(text_field(raw.get("refusal"), f"{where}.refusal"))
    if kind == "image_url":
        img = obj(raw.get("image_url"), f"{where}.image_url")
        url = text_field(img.get("url"), f"{where}.image_url.url")
        detail = img.get("detail")
        split = split_data_url(url)
        if split:
            return ir.Image(data=split[1], media_type=split[0], detail=detail, cache_control=raw.get("cache_control"))
        return ir.Image(url=url, detail=detail, cache_control=raw.get("cache_control"))
    if kind == "input_audio":
        audio = obj(raw.get("input_audio"), f"{where}.input_audio")
        fmt = text_field(audio.get("format"), f"{where}.input_audio.format")
        return ir.File(data=text_field(audio.get("data"), f"{where}.input_audio.data"),
                       media_type=_AUDIO_TYPES.get(fmt, f"audio/{fmt}"))
    if kind == "file":
        f = obj(raw.get("file"), f"{where}.file")
        file_data = f.get("file_data")
        media_type, data = None, file_data
        if isinstance(file_data, str) and (split := split_data_url(file_data)):
            media_type, data = split
        return ir.File(data=data, file_id=f.get("file_id"), filename=f.get("filename"), media_type=media_type,
                       cache_control=raw.get("cache_control"))
    raise InvalidRequest(f"unsupported content part type {kind!r} in '{where}'", param=f"{where}.type")


def encode_part(part: ir.Text | ir.Image | ir.File | ir.Refusal, same: bool = True) -> Json:
    if isinstance(part, ir.Text):
        return encode_text(part, same)
    if isinstance(part, ir.Refusal):
        return {"type": "refusal", "refusal": part.text}
    if isinstance(part, ir.Image):
        url = part.url if part.url is not None else data_url(part.media_type or "image/png", part.data or "")
        img: Json = {"url": url}
        if part.detail is not None:
            img["detail"] = part.detail
        out: Json = {"type": "image_url", "image_url": img}
    elif _is_audio(part):
        mt = part.media_type or ""
        return {"type": "input_audio",
                "input_audio": {"data": part.data, "format": _AUDIO_FORMATS.get(mt, mt.removeprefix("audio/"))}}
    else:
        f: Json = {}
        if part.data is not None:
            f["file_data"] = data_url(part.media_type, part.data) if part.media_type else part.data
        elif part.url is not None and part.file_id is None:
            raise TranslationError("OpenAI chat cannot take a file by URL; send it inline or by file_id")
        if part.file_id is not None:
            f["file_id"] = part.file_id
        if part.filename is not None:
            f["filename"] = part.filename
        out = {"type": "file", "file": f}
    if same and part.cache_control is not None:
        out["cache_control"] = part.cache_control
    return out


def _is_audio(part: ir.File) -> bool:
    return (part.data is not None and part.file_id is None and part.filename is None
            and (part.media_type or "").startswith("audio/"))


def describe(part: ir.Image | ir.File) -> str:
    """A text stand-in for a part a chat tool message cannot carry."""
    if isinstance(part, ir.Image):
        return f"[image: {part.url}]" if part.url else f"[image: {part.media_type or 'inline'}]"
    name = part.filename or part.file_id or part.url or part.media_type or "inline"
    return f"[file: {name}]"
