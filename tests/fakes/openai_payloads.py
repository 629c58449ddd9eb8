"""Deterministic OpenAI response bodies and SSE events for the fake upstream.

Ids derive from a hash of the request's content fields (not `stream`/`stream_options`),
so the same request gives the same bytes whether it is streamed or not.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

import orjson

CREATED = 1763000000


def digest(body: dict[str, Any]) -> str:
    stable = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return hashlib.sha256(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)).hexdigest()


def text_of(content: Any) -> str:
    """Text of a string or a list of parts in any of the APIs' shapes."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def last_user_text(items: Any) -> str:
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if isinstance(item, dict) and item.get("role") == "user":
            return text_of(item.get("content"))
    return ""


def answer_text(user: str) -> str:
    return f"Hello from fake: {user}" if user else "Hello from fake"


def usage_numbers(body: dict[str, Any], text: str) -> tuple[int, int, int, int]:
    """(input, cached, output, reasoning) tokens, deterministic."""
    inp = max(1, len(orjson.dumps(body.get("input", body.get("messages", "")))) // 4)
    cached = inp // 2 if body.get("prompt_cache_key") else 0
    reasoning = 7 if body.get("reasoning") else 0
    return inp, cached, max(1, len(text.split())) + reasoning, reasoning


# ---------------------------------------------------------------- Responses API


def response_output(body: dict[str, Any], h: str) -> list[dict[str, Any]]:
    items = body.get("input")
    user = last_user_text(items)
    last = items[-1] if isinstance(items, list) and items else {}
    answered = isinstance(last, dict) and last.get("type") in ("function_call_output", "custom_tool_call_output")
    tools = body.get("tools") or []
    out: list[dict[str, Any]] = []
    if body.get("reasoning"):
        out.append({"id": f"rs_{h[:24]}", "type": "reasoning", "summary": [],
                    "encrypted_content": base64.b64encode(hashlib.sha256(h.encode()).digest()).decode()})
    fn = next((t for t in tools if t.get("type") == "function"), None)
    custom = next((t for t in tools if t.get("type") == "custom"), None)
    if not answered and fn and "call tool" in user:
        out.append({"id": f"fc_{h[:24]}", "type": "function_call", "status": "completed",
                    "call_id": f"call_{h[:16]}", "name": fn["name"], "arguments": '{"x": 1}'})
    elif not answered and custom and "apply patch" in user:
        out.append({"id": f"ctc_{h[:24]}", "type": "custom_tool_call", "status": "completed",
                    "call_id": f"call_{h[:16]}", "name": custom["name"],
                    "input": "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"})
    else:
        text = answer_text(user)
        if body.get("model") == "fake-big":
            text = ("lorem ipsum dolor " * 6000)[:100_000]
        out.append({"id": f"msg_{h[:24]}", "type": "message", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
    return out


def response_object(body: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    h = digest(body)
    output = response_output(body, h)
    text = " ".join(text_of(o.get("content")) for o in output if o["type"] == "message")
    inp, cached, outp, reasoning = usage_numbers(body, text)
    return {
        "id": f"resp_{h[:32]}", "object": "response", "created_at": CREATED, "status": status,
        "background": False, "error": None, "incomplete_details": None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model"), "output": output, "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": body.get("store", True), "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0), "truncation": "disabled",
        "usage": {"input_tokens": inp, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": outp,
                  "output_tokens_details": {"reasoning_tokens": reasoning}, "total_tokens": inp + outp},
        "user": body.get("user"), "metadata": body.get("metadata") or {},
    }


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [" ".join(words[i:i + 3]) + (" " if i + 3 < len(words) else "") for i in range(0, len(words), 3)]


def response_events(resp: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The full event sequence OpenAI streams for `resp` (without sequence numbers)."""
    pending = {**resp, "status": "in_progress", "output": [], "usage": None}
    ev: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": pending}),
        ("response.in_progress", {"response": pending}),
        ("response.fake_unknown_event", {"x": 1}),
    ]
    for idx, item in enumerate(resp["output"]):
        base = {"output_index": idx, "item_id": item["id"]}
        kind = item["type"]
        if kind == "message":
            text = item["content"][0]["text"]
            ev.append(("response.output_item.added", {"output_index": idx, "item": {**item, "status": "in_progress",
                                                                                    "content": []}}))
            ev.append(("response.content_part.added", {**base, "content_index": 0, "part": {
                "type": "output_text", "text": "", "annotations": [], "logprobs": []}}))
            for piece in _pieces(text):
                ev.append(("response.output_text.delta", {**base, "content_index": 0, "delta": piece,
                                                          "logprobs": []}))
            ev.append(("response.output_text.done", {**base, "content_index": 0, "text": text, "logprobs": []}))
            ev.append(("response.content_part.done", {**base, "content_index": 0, "part": item["content"][0]}))
        elif kind == "function_call":
            ev.append(("response.output_item.added", {"output_index": idx, "item": {**item, "arguments": "",
                                                                                    "status": "in_progress"}}))
            ev.append(("response.function_call_arguments.delta", {**base, "delta": item["arguments"]}))
            ev.append(("response.function_call_arguments.done", {**base, "arguments": item["arguments"]}))
        elif kind == "custom_tool_call":
            ev.append(("response.output_item.added", {"output_index": idx, "item": {**item, "input": ""}}))
            ev.append(("response.custom_tool_call_input.delta", {**base, "delta": item["input"]}))
            ev.append(("response.custom_tool_call_input.done", {**base, "input": item["input"]}))
        else:
            ev.append(("response.output_item.added", {"output_index": idx, "item": item}))
        ev.append(("response.output_item.done", {"output_index": idx, "item": item}))
    ev.append(("response.completed", {"response": resp}))
    return ev


def encode_response_events(events: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    out = []
    for seq, (name, data) in enumerate(events):
        payload = orjson.dumps({"type": name, "sequence_number": seq, **data})
        out.append(b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n")
    return out


# ---------------------------------------------------------------- Chat Completions


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    h = digest(body)
    messages = body.get("messages") or []
    user = last_user_text(messages)
    last = messages[-1] if messages else {}
    text = answer_text(user)
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    finish = "stop"
    custom = next((t["custom"] for t in body.get("tools") or [] if t.get("type") == "custom"), None)
    if custom and "apply patch" in user and not (isinstance(last, dict) and last.get("role") == "tool"):
        message = {"role": "assistant", "content": None, "refusal": None, "annotations": [], "tool_calls": [
            {"id": f"call_{h[:16]}", "type": "custom",
             "custom": {"name": custom["name"], "input": "*** Begin Patch\n*** Add File: hello.txt\n+hi\n"
                                                         "*** End Patch\n"}}]}
        finish = "tool_calls"
    elif body.get("tools") and "call tool" in user and not (isinstance(last, dict) and last.get("role") == "tool"):
        fn = body["tools"][0]["function"]["name"]
        message = {"role": "assistant", "content": None, "refusal": None, "annotations": [], "tool_calls": [
            {"id": f"call_{h[:16]}", "type": "function", "function": {"name": fn, "arguments": '{"x": 1}'}}]}
        finish = "tool_calls"
    inp, cached, outp, reasoning = usage_numbers(body, text)
    return {"id": f"chatcmpl-{h[:29]}", "object": "chat.completion", "created": CREATED, "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": inp, "completion_tokens": outp, "total_tokens": inp + outp,
                      "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_fake"}


def chat_chunks(body: dict[str, Any]) -> list[bytes]:
    """`data:` lines for a streamed chat completion, ending with [DONE]."""
    full = chat_completion(body)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {"id": full["id"], "object": "chat.completion.chunk", "created": CREATED, "model": full["model"],
            "service_tier": "default", "system_fingerprint": "fp_fake"}
    msg = full["choices"][0]["message"]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": "", "refusal": None}]
    if msg.get("tool_calls"):
        call = msg["tool_calls"][0]
        deltas = [{"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"],
                                                                             "arguments": ""}}]},
                  {"tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]}]
    else:
        deltas += [{"content": piece} for piece in _pieces(msg["content"])]
    chunks = []
    for d in deltas:
        chunks.append({**base, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                        "finish_reason": full["choices"][0]["finish_reason"]}]})
    if include_usage:
        chunks = [{**c, "usage": None} for c in chunks]
        chunks.append({**base, "choices": [], "usage": full["usage"]})
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


# ---------------------------------------------------------------- Embeddings


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
    data = []
    for i, text in enumerate(texts):
        seed = hashlib.sha256(str(text).encode()).digest()
        vec = [round((b - 128) / 128, 4) for b in seed[:8]]
        emb: Any = vec
        if body.get("encoding_format") == "base64":
            emb = base64.b64encode(struct.pack("<8f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": emb})
    tokens = sum(max(1, len(str(t).split())) for t in texts)
    return {"object": "list", "data": data, "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


MODELS = ["gpt-5", "gpt-5-mini", "text-embedding-3-small"]


def model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "openai"}


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})
