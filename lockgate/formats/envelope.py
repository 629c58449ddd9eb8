"""Opaque envelopes: carry another format's reasoning through a Responses client and back.

Codex (and any Responses client) keeps the `reasoning` items it receives and sends them back
on the next turn with `encrypted_content` unchanged; it re-serialises every other item from
its own typed model, so unknown fields on a `function_call` are lost, while `call_id` is
echoed but also used as the tool output's key. So `encrypted_content` of a reasoning item
is the one field a client carries for us verbatim, and both kinds of foreign state travel in
it:

- an `ir.Reasoning` from another format (Anthropic thinking + signature, redacted thinking,
  Gemini thoughts): the envelope holds all its fields and restores it exactly, `source`
  included, so it goes back only to the provider that made it;
- a foreign tool call's `extra` (Gemini's `thoughtSignature`): a separate reasoning item
  names the `call_id` it belongs to and restores the extra onto that call.

Wire form: `lgr1.` + base64url(JSON payload), and with a key, `.` + base64url(HMAC-SHA256
of the payload text, 16 bytes), so that a client cannot forge reasoning that lockgate would
hand to a provider as if it came from it. With a key configured, an envelope without a
valid tag is not trusted: it stays plain OpenAI encrypted content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson

from lockgate import ir
from lockgate.formats.wire import present

__all__ = ["PREFIX", "CallExtra", "is_envelope", "open_envelope", "seal_call_extra", "seal_reasoning"]

PREFIX = "lgr1."
_TAG_BYTES = 16


@dataclass(slots=True)
class CallExtra:
    """A foreign tool call's `extra`, restored onto the call with this `call_id`."""

    call_id: str
    source: str
    extra: dict[str, Any]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(body: str, key: bytes) -> str:
    return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:_TAG_BYTES])


def _seal(payload: dict[str, Any], key: bytes | None) -> str:
    body = _b64(orjson.dumps(payload))
    return PREFIX + body + ("." + _tag(body, key) if key else "")


def seal_reasoning(r: ir.Reasoning, key: bytes | None = None) -> str:
    """The `encrypted_content` that restores `r` exactly."""
    payload: dict[str, Any] = {"k": "r", "source": r.source, "text": r.text}
    # Only non-default fields, to keep what the client stores and resends small.
    payload.update(present(summary=r.summary or None, signature=r.signature, encrypted=r.encrypted,
                           redacted=True if r.redacted else None))
    if r.item_id is not None:
        payload["item_id"] = r.item_id
    if r.extra:
        payload["extra"] = r.extra
    return _seal(payload, key)


def seal_call_extra(call: ir.ToolCall, source: str, key: bytes | None = None) -> str:
    """The `encrypted_content` that restores `call.extra` onto the call with its call_id."""
    return _seal({"k": "c", "source": source, "call_id": call.call_id, "extra": call.extra}, key)


def is_envelope(encrypted: str | None) -> bool:
    return encrypted is not None and encrypted.startswith(PREFIX)


def open_envelope(encrypted: str, key: bytes | None = None) -> ir.Reasoning | CallExtra | None:
    """What an envelope holds, or None when `encrypted` is not one of ours (or its tag is
    wrong when a key is set): the caller then keeps it as plain OpenAI encrypted content."""
    if not encrypted.startswith(PREFIX):
        return None
    body, _, tag = encrypted[len(PREFIX):].partition(".")
    if key is not None and not (tag and hmac.compare_digest(tag, _tag(body, key))):
        return None
    try:
        payload = orjson.loads(_unb64(body))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("source"), str):
        return None
    try:
        if payload.get("k") == "r":
            return ir.Reasoning(
                text=payload["text"],
                summary=list(payload.get("summary", [])),
                signature=payload.get("signature"),
                encrypted=payload.get("encrypted"),
                redacted=bool(payload.get("redacted", False)),
                source=payload["source"],
                item_id=payload.get("item_id"),
                extra=dict(payload.get("extra", {})),
            )
        if payload.get("k") == "c":
            return CallExtra(call_id=payload["call_id"], source=payload["source"], extra=dict(payload["extra"]))
    except (KeyError, TypeError, ValueError):
        return None
    return None
