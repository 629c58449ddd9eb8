"""`chat.completion` objects ↔ IR responses."""

from __future__ import annotations

from typing import Any

from lockgate import ir
from lockgate.errors import InvalidRequest

from .common import FINISH_IN, FINISH_OUT, NAME, Json, decode_usage, encode_usage, without_notes

_TOP = frozenset({"id", "object", "created", "model", "choices", "usage"})
_MESSAGE = frozenset({"role", "content", "refusal", "tool_calls", "function_call", "reasoning_content",
                      "reasoning"})


def decode_response(body: Json) -> ir.Response:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InvalidRequest("chat completion without choices", param="choices")
    choice = choices[0]
    raw_message = choice.get("message")
    message: Json = raw_message if isinstance(raw_message, dict) else {}
    extra: Json = {k: v for k, v in body.items() if k not in _TOP}
    if len(choices) > 1:
        extra["more_choices"] = choices[1:]  # the IR models one answer (n > 1)
    if choice.get("logprobs") is not None:
        extra["logprobs"] = choice["logprobs"]
    msg_extra = {k: v for k, v in message.items() if k not in _MESSAGE}
    if msg_extra:
        extra["message"] = msg_extra
    reason = choice.get("finish_reason")
    return ir.Response(
        id=str(body.get("id") or ""), model=str(body.get("model") or ""), content=decode_message(message),
        finish_reason=FINISH_IN.get(reason, "stop") if isinstance(reason, str) else "stop",
        usage=decode_usage(body.get("usage")), created=int(body.get("created") or 0), source=NAME, extra=extra)


def decode_message(message: Json) -> list[ir.Part]:
    """The assistant message of a completion, as IR parts in output order."""
    parts: list[ir.Part] = []
    # DeepSeek/vLLM send `reasoning_content`; OpenRouter and newer vLLM `reasoning`.
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ir.Reasoning(text=reasoning, source=NAME))
    content = message.get("content")
    if isinstance(content, str) and content:
        text = ir.Text(content)
        if message.get("annotations"):
            text.extra["annotations"] = message["annotations"]
        parts.append(text)
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(ir.Refusal(message["refusal"]))
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        extra = {k: v for k, v in call.items() if k not in ("id", "type", "function", "custom", "index")}
        if call.get("type") == "custom" and isinstance(call.get("custom"), dict):
            c = call["custom"]
            parts.append(ir.ToolCall(str(call.get("id") or ""), str(c.get("name") or ""), str(c.get("input") or ""),
                                     kind="custom", extra=extra))
        elif isinstance(call.get("function"), dict):
            fn = call["function"]
            parts.append(ir.ToolCall(str(call.get("id") or ""), str(fn.get("name") or ""),
                                     _args(fn.get("arguments")), extra=extra))
    fc = message.get("function_call")
    if isinstance(fc, dict):
        parts.append(ir.ToolCall("call_legacy", str(fc.get("name") or ""), _args(fc.get("arguments"))))
    return parts


def _args(value: Any) -> str:
    return value if isinstance(value, str) and value else "{}"


def encode_response(resp: ir.Response, req: ir.Request) -> Json:
    same = resp.source == NAME
    extra = without_notes(resp.extra) if same else {}
    message: Json = {"role": "assistant", "content": None, "refusal": None}
    texts: list[str] = []
    annotations: list[Any] = []
    reasoning: list[str] = []
    calls: list[Json] = []
    for p in resp.content:
        if isinstance(p, ir.Text):
            texts.append(p.text)
            annotations.extend(p.extra.get("annotations") or [] if same else [])
        elif isinstance(p, ir.Refusal):
            message["refusal"] = (message["refusal"] or "") + p.text
        elif isinstance(p, ir.Reasoning):
            # Visible reasoning from any provider, in the field chat clients of reasoning hosts read.
            shown = p.text or "\n\n".join(p.summary)
            if shown:
                reasoning.append(shown)
        elif isinstance(p, ir.ToolCall):
            calls.append(encode_call(p))
    if texts:
        message["content"] = "".join(texts)
    if reasoning:
        message["reasoning_content"] = "\n\n".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    if annotations:
        message["annotations"] = annotations
    if isinstance(extra.get("message"), dict):
        message.update(extra.pop("message"))
    choice: Json = {"index": 0, "message": message, "logprobs": extra.pop("logprobs", None),
                    "finish_reason": finish_reason(resp.finish_reason, bool(calls))}
    more = extra.pop("more_choices", None)
    out: Json = {"id": resp.id, "object": "chat.completion", "created": resp.created, "model": resp.model or req.model,
                 "choices": [choice, *(more if isinstance(more, list) else [])]}
    if resp.usage is not None:
        out["usage"] = encode_usage(resp.usage)
    out.update(extra)
    return out


def encode_call(call: ir.ToolCall) -> Json:
    if call.kind == "custom":
        return {"id": call.call_id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}
    return {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def finish_reason(reason: ir.FinishReason, has_calls: bool) -> str:
    # Anthropic says "tool_use" only when it stops for the calls; chat clients look for tool_calls.
    if has_calls and reason == "stop":
        return "tool_calls"
    return FINISH_OUT.get(reason, "stop")
