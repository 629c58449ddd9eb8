"""IR request → a Gemini `generateContent` body (v1beta, camelCase JSON).

What Gemini demands of `contents`, and how the encoder meets it:
- roles are only "user" and "model": assistant → model; user and tool → user;
  system/developer messages anywhere go to `systemInstruction` (Gemini has one);
- turns alternate: consecutive same-role messages are merged into one content; empty text
  parts (which Gemini refuses) are left out unless they carry a thought signature;
- a `functionResponse` needs the function name: `ToolResult.name`, else the name of the
  call with the same `call_id` earlier in the conversation; the responses of one model turn
  are ordered like its calls;
- a tool result is `{"output": text}` (`{"error": text}` when `is_error`), the keys the API
  documents; images or files in a result follow as their own parts in the same user turn;
- in the current turn (after the last user message that is more than function responses)
  the first `functionCall` of each model step must carry a thought signature on Gemini 3.
  Calls that never had one (history from another provider) get Google's documented
  placeholder `skip_thought_signature_validator`.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from lockgate import ir
from lockgate.errors import TranslationError
from lockgate.formats.gemini import config
from lockgate.formats.gemini.parts import FORMAT_NAME, SIGNATURE, file_part, function_call_part, image_part

__all__ = ["SKIP_SIGNATURE", "encode_request"]

Json = dict[str, Any]

SKIP_SIGNATURE = "skip_thought_signature_validator"


def encode_request(req: ir.Request) -> Json:
    system = [t.text for t in req.system]
    names = {p.call_id: p.name for m in req.messages for p in m.parts if isinstance(p, ir.ToolCall)}
    contents: list[Json] = []
    for msg in req.messages:
        if msg.role in ("system", "developer"):
            system.extend(_text_of(msg))
            continue
        role = "model" if msg.role == "assistant" else "user"
        parts = _model_parts(msg) if role == "model" else _user_parts(msg, names)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    _order_responses(contents)
    _sign_current_turn(contents)
    body: Json = {"contents": contents}
    if any(system):
        body["systemInstruction"] = {"parts": [{"text": t} for t in system if t]}
    body.update(config.encode_tools(req))
    gen = config.generation_config(req)
    if gen:
        body["generationConfig"] = gen
    return body


def _text_of(msg: ir.Message) -> list[str]:
    out: list[str] = []
    for p in msg.parts:
        if isinstance(p, ir.Text):
            out.append(p.text)
        elif not isinstance(p, ir.Reasoning):
            raise TranslationError(f"a {msg.role} message may only hold text for Gemini", param="messages")
    return out


def _model_parts(msg: ir.Message) -> list[Json]:
    out: list[Json] = []
    for p in msg.parts:
        if isinstance(p, ir.Text):
            part: Json = {"text": p.text}
            if isinstance(p.extra.get(SIGNATURE), str):
                part[SIGNATURE] = p.extra[SIGNATURE]
            elif not p.text:
                continue  # Gemini refuses empty text unless it carries a signature
            out.append(part)
        elif isinstance(p, ir.Refusal):
            out.append({"text": p.text})
        elif isinstance(p, ir.ToolCall):
            out.append(function_call_part(p))
        elif isinstance(p, ir.Reasoning):
            if p.source == FORMAT_NAME and (p.text or p.signature):  # foreign reasoning cannot go to Gemini
                thought: Json = {"text": p.text, "thought": True}
                if p.signature:
                    thought[SIGNATURE] = p.signature
                out.append(thought)
        elif isinstance(p, ir.Image):
            out.append(image_part(p))
        elif isinstance(p, ir.File):
            out.append(file_part(p))
        else:
            raise TranslationError("an assistant message cannot hold a tool result for Gemini", param="messages")
    return out


def _user_parts(msg: ir.Message, names: dict[str, str]) -> list[Json]:
    out: list[Json] = []
    media: list[Json] = []  # images/files of tool results, after the function responses
    for p in msg.parts:
        if isinstance(p, ir.Text):
            if p.text:
                out.append({"text": p.text})
        elif isinstance(p, ir.Image):
            out.append(image_part(p))
        elif isinstance(p, ir.File):
            out.append(file_part(p))
        elif isinstance(p, ir.ToolResult):
            out.append(_function_response(p, names, media))
        elif isinstance(p, ir.Reasoning):
            continue
        else:
            raise TranslationError(f"a {msg.role} message cannot hold a {type(p).__name__} part for Gemini",
                                   param="messages")
    return out + media


def _function_response(res: ir.ToolResult, names: dict[str, str], media: list[Json]) -> Json:
    name = res.name or names.get(res.call_id)
    if not name:
        raise TranslationError(
            f"tool result {res.call_id!r} has no function name and no earlier tool call with that id; "
            "Gemini needs the name on every function response", param="messages")
    if isinstance(res.content, str):
        text = res.content
    else:
        texts = []
        for c in res.content:
            if isinstance(c, ir.Text):
                texts.append(c.text)
            elif isinstance(c, ir.Image):
                media.append(image_part(c))
            else:
                media.append(file_part(c))
        text = "\n".join(texts)
    fr: Json = {"name": name, "response": {"error" if res.is_error else "output": text}}
    if res.call_id:
        fr["id"] = res.call_id
    return {"functionResponse": fr}


def _order_responses(contents: list[Json]) -> None:
    """Put the function responses of a user turn in the order of the preceding model turn's
    calls (results may arrive in completion order); other parts keep their place after them."""
    for prev, cur in pairwise(contents):
        if prev["role"] != "model" or cur["role"] != "user":
            continue
        order = {p["functionCall"].get("id"): i for i, p in enumerate(prev["parts"]) if "functionCall" in p}
        responses = [p for p in cur["parts"] if "functionResponse" in p]
        if not responses:
            continue
        responses.sort(key=lambda p: order.get(p["functionResponse"].get("id"), len(order)))
        rest = [p for p in cur["parts"] if "functionResponse" not in p]
        cur["parts"] = responses + rest


def _sign_current_turn(contents: list[Json]) -> None:
    start = 0
    for i, c in enumerate(contents):
        if c["role"] == "user" and any("functionResponse" not in p for p in c["parts"]):
            start = i + 1
    for c in contents[start:]:
        if c["role"] != "model":
            continue
        first = next((p for p in c["parts"] if "functionCall" in p), None)
        if first is not None and SIGNATURE not in first:
            first[SIGNATURE] = SKIP_SIGNATURE
