"""Codex's remote compaction, done by lockgate for providers that are not OpenAI.

Codex on its built-in provider (the SDKs' path) compacts a long conversation by sending the
history plus a `{"type": "compaction_trigger"}` item, and requires exactly one output item
of type `compaction` (opaque to Codex, which sends it back at the start of later requests).
Only OpenAI's Responses API makes such items. For any other provider lockgate asks the
routed model for a handoff summary, returns it inside a `compaction` item of its own
(`encrypted_content` = "lgc1." + base64url JSON), and expands that item back into the
summary, as a user message, when Codex sends it again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import replace
from typing import Any

import orjson

from lockgate import ir

__all__ = ["compaction_item", "expand_compactions", "is_compaction_request", "summary_request", "summary_text"]

_PREFIX = "lgc1."
_RESPONSES = "openai_responses"
# The instruction Codex itself uses for a local compaction, in substance: a summary another
# model can continue from.
SUMMARY_PROMPT = (
    "You are performing a CONTEXT CHECKPOINT COMPACTION. Create a handoff summary for another language model "
    "that will continue this task: the user's goal and constraints, what has been done so far (commands run, "
    "files changed and how), what was learned, and what remains to do, with any identifiers, paths and values "
    "needed to continue. Answer with the summary only.")
SUMMARY_PREFIX = ("Another language model started to solve this problem and produced a summary of its work so "
                  "far. Continue from it:\n\n")


def _kind(part: ir.Part) -> str | None:
    return str(part.raw.get("type")) if isinstance(part, ir.Opaque) and part.source == _RESPONSES else None


def is_compaction_request(req: ir.Request) -> bool:
    return any(_kind(p) == "compaction_trigger" for m in req.messages for p in m.parts)


def summary_request(req: ir.Request) -> ir.Request:
    """The request that asks the model for the summary: the history without the trigger, no
    tools, and the summary instruction as the last user turn."""
    messages = [replace(m, parts=[p for p in m.parts if _kind(p) != "compaction_trigger"]) for m in req.messages]
    messages = [m for m in messages if m.parts]
    messages.append(ir.Message("user", [ir.Text(SUMMARY_PROMPT)]))
    return replace(req, messages=messages, tools=[], builtin_tools=[], tool_choice=None, parallel_tool_calls=None,
                   stream=False, response_format=None)


def summary_text(resp: ir.Response) -> str:
    return "\n".join(p.text for p in resp.content if isinstance(p, ir.Text)).strip()


def compaction_item(summary: str) -> dict[str, Any]:
    payload = base64.urlsafe_b64encode(orjson.dumps({"summary": summary})).decode().rstrip("=")
    digest = hashlib.sha256(payload.encode()).hexdigest()[:24]
    return {"type": "compaction", "id": f"cmp_{digest}", "encrypted_content": _PREFIX + payload}


def _read(item: dict[str, Any]) -> str | None:
    content = item.get("encrypted_content")
    if not isinstance(content, str) or not content.startswith(_PREFIX):
        return None
    data = content[len(_PREFIX):]
    try:
        value = orjson.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        return None
    summary = value.get("summary") if isinstance(value, dict) else None
    return summary if isinstance(summary, str) else None


def expand_compactions(req: ir.Request) -> ir.Request:
    """lockgate's own compaction items in the history become the summary they hold, as a
    user message; OpenAI's own items are left for OpenAI (fitting drops them elsewhere)."""
    if not any(_kind(p) == "compaction" for m in req.messages for p in m.parts):
        return req
    out: list[ir.Message] = []
    for m in req.messages:
        kept: list[ir.Part] = []
        for p in m.parts:
            summary = _read(p.raw) if isinstance(p, ir.Opaque) and _kind(p) == "compaction" else None
            if summary is None:
                kept.append(p)
                continue
            if kept:
                out.append(replace(m, parts=kept))
                kept = []
            out.append(ir.Message("user", [ir.Text(SUMMARY_PREFIX + summary)]))
        if kept:
            out.append(replace(m, parts=kept) if len(kept) != len(m.parts) else m)
    return replace(req, messages=out)
