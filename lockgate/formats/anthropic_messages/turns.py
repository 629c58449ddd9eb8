"""IR messages → Anthropic turns, with the API's rules applied.

The Messages API wants: one system prompt (no system role in the conversation); user and
assistant turns alternating; every assistant tool_use answered by exactly one tool_result
at the start of the very next user turn; at most 4 blocks with cache_control. IR from other
formats breaks each of these (OpenAI puts system messages mid-conversation, one message per
tool result, reasoning or text between a call and its output, duplicated outputs), so the
encoder regroups instead of failing.
"""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.errors import TranslationError
from lockgate.formats.anthropic_messages import blocks as B

__all__ = ["MAX_CACHE_CONTROL", "build_turns", "limit_cache_control", "merge_results"]

Json = dict[str, Any]
MAX_CACHE_CONTROL = 4
MISSING_RESULT = "No result was returned for this tool call."


def build_turns(req: ir.Request) -> tuple[list[Json], list[Json]]:
    """(system blocks, messages)."""
    system = [B.encode_text(t) for t in req.system]
    called = {B.tool_id(p.call_id) for m in req.messages if m.role == "assistant"
              for p in m.parts if isinstance(p, ir.ToolCall)}
    results: dict[str, ir.ToolResult] = {}
    turns: list[tuple[str, list[Json]]] = []
    for msg in req.messages:
        if msg.role == "system" and msg.extra.get("anthropic_system_message"):
            # A system message the client sent inside the conversation goes back in place.
            blocks = [B.encode_text(p) for p in msg.parts if isinstance(p, ir.Text)]
            if blocks and msg.extra.get("anthropic_content_string") and _plain(blocks):
                blocks[0]["_string"] = True
            turns.append(("system", blocks))
            continue
        if msg.role in ("system", "developer"):
            # From another format: its text joins the system prompt (older Anthropic endpoints,
            # Bedrock's among them, take no system role inside the conversation).
            for part in msg.parts:
                if not isinstance(part, ir.Text):
                    raise TranslationError(f"a {msg.role} message with a {type(part).__name__} part")
                system.append(B.encode_text(part))
            continue
        role = "assistant" if msg.role == "assistant" else "user"
        content: list[Json] = []
        answered = False
        for part in msg.parts:
            if isinstance(part, ir.ToolResult):
                rid = B.tool_id(part.call_id)
                if rid in called:
                    results[rid] = merge_results(results[rid], part) if rid in results else part
                    answered = True
                else:
                    content.append(_orphan(part))  # its call is gone: keep the output as text
            elif (block := _encode_part(part, role)) is not None:
                content.append(block)
        content = B.insert_unknown(content, msg.extra.get(B.UNKNOWN_BLOCKS))
        if not content and not answered:
            continue
        # A turn of answered results stays (empty until they are placed) so the assistant
        # turns around it do not merge.
        if msg.extra.get("anthropic_content_string") and _plain(content):
            content[0]["_string"] = True  # it came as a string and goes back as one
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(content)
        else:
            turns.append((role, content))
    return system, _place_results(turns, results)


def _plain(content: list[Json]) -> bool:
    return len(content) == 1 and set(content[0]) == {"type", "text"}


def _place_results(turns: list[tuple[str, list[Json]]], results: dict[str, ir.ToolResult]) -> list[Json]:
    """Answer each assistant turn's tool_use blocks at the head of the next user turn."""
    out: list[Json] = []
    for i, (role, content) in enumerate(turns):
        if role == "user" and out and out[-1]["role"] == "user":
            out[-1]["content"].extend(content)  # a user turn joined by an answered tool turn
            continue
        out.append({"role": role, "content": content})
        if role != "assistant":
            continue
        ids = [b["id"] for b in content if b.get("type") == "tool_use"]
        last = i == len(turns) - 1
        if not ids or (last and not any(x in results for x in ids)):
            continue  # an assistant turn at the end continues (prefill); nothing to answer yet
        head = [_encode_result(results.pop(x)) if x in results else _missing(x) for x in dict.fromkeys(ids)]
        if i + 1 < len(turns) and turns[i + 1][0] == "user":
            turns[i + 1] = ("user", head + turns[i + 1][1])
        else:
            out.append({"role": "user", "content": head})
    merged: list[Json] = []
    for msg in out:
        if not msg["content"]:
            continue  # a results turn whose results went elsewhere
        if merged and merged[-1]["role"] == msg["role"]:
            merged[-1]["content"].extend(msg["content"])
        else:
            merged.append(msg)
    for msg in merged:
        content = msg["content"]
        if len(content) == 1 and content[0].pop("_string", False):
            msg["content"] = content[0]["text"]
        else:
            for block in content:
                block.pop("_string", None)
    return merged


def merge_results(a: ir.ToolResult, b: ir.ToolResult) -> ir.ToolResult:
    """Two results for one call become one: Anthropic rejects a second tool_result for the
    same tool_use (peers.md §3.3 #20). Contents are joined in order, an error wins."""
    if isinstance(a.content, str) and isinstance(b.content, str):
        content: str | list[ir.Text | ir.Image | ir.File] = "\n".join(x for x in (a.content, b.content) if x)
    else:
        content = _as_parts(a.content) + _as_parts(b.content)
    return ir.ToolResult(call_id=a.call_id, content=content, is_error=a.is_error or b.is_error, kind=a.kind,
                         name=a.name, cache_control=b.cache_control or a.cache_control)


def _as_parts(content: str | list[ir.Text | ir.Image | ir.File]) -> list[ir.Text | ir.Image | ir.File]:
    if isinstance(content, str):
        return [ir.Text(content)] if content else []
    return list(content)


def _encode_result(r: ir.ToolResult) -> Json:
    extra = dict(r.extra)
    unknown = extra.pop(B.UNKNOWN_BLOCKS, None)
    omitted = extra.pop("no_content", False)
    out: Json = {"type": "tool_result", "tool_use_id": B.tool_id(r.call_id)}
    if isinstance(r.content, str):
        if r.content or not omitted:
            out["content"] = r.content
    else:
        out["content"] = B.insert_unknown([_encode_part(p, "user") or {} for p in r.content], unknown)
    if r.is_error:
        out["is_error"] = True
    out.update({k: v for k, v in extra.items() if k in B.RESULT_KEYS})
    if r.cache_control is not None:
        out["cache_control"] = r.cache_control
    return out


def _missing(call_id: str) -> Json:
    # A call whose output never came (an interrupted turn): Anthropic rejects the request
    # unless every tool_use is answered, so the answer says so.
    return {"type": "tool_result", "tool_use_id": call_id, "content": MISSING_RESULT, "is_error": True}


def _orphan(r: ir.ToolResult) -> Json:
    text = r.content if isinstance(r.content, str) else "\n".join(
        p.text for p in r.content if isinstance(p, ir.Text))
    return {"type": "text", "text": f"[output of tool call {r.call_id}]\n{text}"}


def _encode_part(part: ir.Part, role: str) -> Json | None:
    if isinstance(part, ir.Text):
        return B.encode_text(part)
    if isinstance(part, ir.Refusal):
        return {"type": "text", "text": part.text}
    if isinstance(part, ir.Reasoning):
        return B.encode_reasoning(part, foreign=False) if role == "assistant" else None
    if isinstance(part, ir.ToolCall):
        if role != "assistant":
            raise TranslationError("a tool call in a user message")
        return B.encode_tool_use(part)
    if isinstance(part, ir.Image | ir.File):
        if role == "assistant":
            raise TranslationError(f"an assistant message with a {type(part).__name__} part (Anthropic allows "
                                   "only text, tool_use and thinking there)")
        return B.encode_image(part) if isinstance(part, ir.Image) else B.encode_file(part)
    return None  # another format's opaque item: not for Anthropic


def limit_cache_control(body: Json) -> None:
    """At most 4 cache_control blocks (the API rejects a 5th: peers.md §3.3 #23). The last 4
    in prompt order (tools, system, messages) are kept: a breakpoint caches the whole prefix
    before it, so the later ones cover the most tokens, and clients such as Claude Code put
    theirs on the newest turns; an extra one usually comes from a proxy's injected system
    block near the front."""
    marked: list[Json] = []
    for tool in body.get("tools", []):
        if isinstance(tool, dict) and "cache_control" in tool:
            marked.append(tool)
    if isinstance(body.get("system"), list):
        marked += [b for b in body["system"] if isinstance(b, dict) and "cache_control" in b]
    for msg in body.get("messages", []):
        if isinstance(msg.get("content"), list):
            for block in msg["content"]:
                if not isinstance(block, dict):
                    continue
                if isinstance(block.get("content"), list):  # tool_result inner blocks
                    marked += [b for b in block["content"] if isinstance(b, dict) and "cache_control" in b]
                if "cache_control" in block:
                    marked.append(block)
    for block in marked[: max(0, len(marked) - MAX_CACHE_CONTROL)]:
        del block["cache_control"]
