"""Small helpers shared by the Responses request, response and stream modules.

Private notes: a few wire details the IR has no field for (the input was a plain string, a
message's content was a string, an item the IR does not model, the order of tools, an
output message's id/status/phase) are kept in `extra` under keys starting with `_lg`.
This format never emits those keys, so they only ever steer its own re-encoding.
"""

from __future__ import annotations

import hashlib
from typing import Any

from lockgate.errors import InvalidRequest

NAME = "openai_responses"
PRIVATE = "_lg"  # Message/Request extra: dict of private notes
MSG_META = "_lg_msg"  # Text.extra on the first text of an output message: that message's fields

Json = dict[str, Any]


def public(extra: Json) -> Json:
    """`extra` without lockgate's private notes: the fields to put back on the wire."""
    return {k: v for k, v in extra.items() if not k.startswith("_lg")}


def note(extra: Json, key: str) -> Any:
    notes = extra.get(PRIVATE)
    return notes.get(key) if isinstance(notes, dict) else None


def set_note(extra: Json, key: str, value: Any) -> None:
    extra.setdefault(PRIVATE, {})[key] = value


def rest(obj: Json, modeled: tuple[str, ...]) -> Json:
    """The fields of `obj` the IR does not model. A modeled field whose value is null stays
    here, so that `"x": null` comes back as `"x": null` and not as a missing key."""
    return {k: v for k, v in obj.items() if k not in modeled or v is None}


def stable_id(prefix: str, *seed: object) -> str:
    """An id with an OpenAI-style prefix, the same every time for the same seed (so the
    stream events and the final response agree on it)."""
    digest = hashlib.blake2b(":".join(map(str, seed)).encode(), digest_size=12).hexdigest()
    return prefix + digest


def split_data_url(url: str) -> tuple[str, str] | None:
    """`data:<media type>;base64,<data>` → (media type, data); anything else → None."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    media_type = head[: -len(";base64")]
    if not media_type or ";" in media_type:
        return None
    return media_type, data


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


def need_str(obj: Json, key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}.{key} must be a string", param=f"{where}.{key}")
    return value


def need_obj(value: Any, where: str) -> Json:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be an object", param=where)
    return value
