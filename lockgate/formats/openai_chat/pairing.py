"""Tool calls and their results, placed the way chat hosts demand.

OpenAI and the strict compatible hosts (DeepSeek, vLLM, Mistral…) reject a conversation
unless every assistant message with `tool_calls` is followed at once by one `tool`
message per call, in call order ("assistant message with 'tool_calls' must be followed
by tool messages", peers §3.3 #10). Other formats are looser: a Responses input may put a
message between a call and its output, or the outputs in another order. So the encoder
emits each result right after the message that made its call, wherever the IR had it, and
never drops a call or a result:

- a call with no result anywhere gets a tool message saying so (`MISSING_RESULT`), since
  the host would reject the request otherwise;
- a result whose call is nowhere becomes a user message quoting it (a same-format request
  keeps it as it came, for the host to judge);
- several results for one call are joined into one tool message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .common import Json

MISSING_RESULT = "(no result: this tool call was not answered)"


@dataclass(slots=True)
class Entry:
    """One wire message and what pairing needs to know about it."""

    msg: Json
    calls: list[str] = field(default_factory=list)  # assistant: its call ids, in order
    answers: str | None = None  # tool message: the call id it answers
    text: str = ""  # tool message: its content as text (for joining and quoting)
    attachments: list[Json] = field(default_factory=list)  # parts a tool message cannot carry


def pair(entries: list[Entry], same: bool) -> list[Json]:
    made_at: dict[str, int] = {}
    for i, e in enumerate(entries):
        for call_id in e.calls:
            made_at.setdefault(call_id, i)
    results: dict[str, list[Entry]] = {}
    for e in entries:
        if e.answers is not None and e.answers in made_at:
            results.setdefault(e.answers, []).append(e)
    out: list[Json] = []
    for e in entries:
        if e.answers is not None:
            if e.answers not in made_at:
                out.append(e.msg if same else _quoted(e))
            continue  # otherwise placed right after its call
        out.append(e.msg)
        attachments: list[Json] = []
        for call_id in e.calls:
            found = results.pop(call_id, None)
            if not found:
                out.append({"role": "tool", "tool_call_id": call_id, "content": MISSING_RESULT})
                continue
            out.append(found[0].msg if len(found) == 1 else _joined(call_id, found))
            attachments.extend(a for r in found for a in r.attachments)
        if attachments:
            # Images from tool results: a tool message holds text only, a user message may hold them.
            out.append({"role": "user", "content": [
                {"type": "text", "text": "Attachments returned by the tool calls above:"}, *attachments]})
    return out


def _joined(call_id: str, found: list[Entry]) -> Json:
    return {"role": "tool", "tool_call_id": call_id, "content": "\n\n".join(r.text for r in found)}


def _quoted(e: Entry) -> Json:
    return {"role": "user", "content": f"Result of tool call {e.answers}:\n{e.text}"}
