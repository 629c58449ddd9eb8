"""A protocol-true fake Anthropic upstream: POST /v1/messages and /v1/messages/count_tokens.

Same pattern as `openai_upstream.FakeOpenAI` (it reuses its thread, lifecycle and request
recording): an aiohttp server on 127.0.0.1. `url` is the base URL the anthropic SDK wants
(`http://127.0.0.1:<port>`, no `/v1`).

Answers are deterministic and scripted by the request:
- tools offered and the last user turn is text → a tool_use for the first offered client
  tool, with arguments built from its schema (a lone string parameter `input` gets a small
  apply_patch patch);
- the last user turn carries tool_results → a text that quotes them;
- otherwise a text that quotes the last user text;
- `thinking` enabled or adaptive → first a thinking block signed with an HMAC of its text;
- models with "script" in the name play `scripted_model`'s agent session instead.

It validates like the real API (400 invalid_request_error): missing max_tokens, roles that
do not alternate (older API versions rejected them; today's API merges them, but here it
catches encoders that fail to), a tool_use without its tool_result right after, two
tool_results for one id (peers.md §3.3 #20), more than 4 cache_control blocks (#23), a
thinking block whose signature it did not make (#22), bad base64 in image/document
blocks, a `tool_choice` without `tools` (the API refuses the combination; the message is
the fake's own); 401 without the right key (`x-api-key`, or Bearer as current SDKs send
it), 400 without an `anthropic-version`. Model `fake-too-long` answers the 400 "prompt is too long";
`fake-overloaded` answers 529 overloaded_error (streaming: an `error` event mid-stream);
`fake-error-<status>` answers that status (429 with retry-after).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import scripted_model as script
from tests.fakes.openai_upstream import REC_KEY, FakeOpenAI, RecordedRequest, sse_events

__all__ = ["FakeAnthropic", "RecordedRequest", "sign_thinking", "sse_events"]

Json = dict[str, Any]
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
_SECRET = b"fake-anthropic-thinking-key"
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
          404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
          504: "timeout_error", 529: "overloaded_error"}


def sign_thinking(text: str) -> str:
    """The signature the fake gives (and accepts on) a thinking block."""
    return base64.b64encode(hmac.new(_SECRET, text.encode(), hashlib.sha256).digest()).decode()


class Invalid(Exception):
    """A request the real API would reject with 400 invalid_request_error."""


def error_body(type_: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": type_, "message": message},
                         "request_id": "req_fake"})


def _event(name: str, payload: Json) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


# -- validation ----------------------------------------------------------------------------------

def _blocks(content: Any) -> list[Json]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _check_base64(block: Json, where: str) -> None:
    src = block.get("source") or {}
    if src.get("type") != "base64":
        return
    try:
        if not base64.b64decode(str(src.get("data", "")), validate=True):
            raise ValueError
    except (binascii.Error, ValueError):
        raise Invalid(f"{where}.source.base64: invalid base64 data") from None


def _count_cache_control(body: Json) -> int:
    n = sum(1 for t in body.get("tools") or [] if isinstance(t, dict) and t.get("cache_control"))
    if isinstance(body.get("system"), list):
        n += sum(1 for b in _blocks(body["system"]) if b.get("cache_control"))
    for msg in body.get("messages") or []:
        for block in _blocks(msg.get("content") if isinstance(msg, dict) else None):
            n += bool(block.get("cache_control")) + sum(1 for b in _blocks(block.get("content"))
                                                         if b.get("cache_control"))
    return n


def validate(body: Json, count_only: bool = False) -> None:
    if not isinstance(body.get("model"), str):
        raise Invalid("model: Field required")
    if not count_only and not isinstance(body.get("max_tokens"), int):
        raise Invalid("max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise Invalid("messages: Field required")
    prev_role, prev_calls = None, []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant", "system"):
            raise Invalid(f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'")
        role = msg["role"]
        if role == "system":  # instructions inside the conversation: text only, outside the alternation
            if any(b.get("type") != "text" for b in _blocks(msg.get("content"))):
                raise Invalid(f"messages.{i}.content: a system message takes text blocks only")
            continue
        if role == prev_role:
            raise Invalid(f'messages: roles must alternate between "user" and "assistant", but found multiple '
                          f'"{role}" roles in a row')
        blocks = _blocks(msg.get("content"))
        results = []
        for j, block in enumerate(blocks):
            where = f"messages.{i}.content.{j}"
            kind = block.get("type")
            if kind in ("image", "document"):
                _check_base64(block, f"{where}.{kind}")
            elif kind == "thinking" and block.get("signature") != sign_thinking(str(block.get("thinking", ""))):
                raise Invalid(f"{where}: Invalid `signature` in `thinking` block")
            elif kind == "tool_result":
                if results.count(block.get("tool_use_id")):
                    raise Invalid(f"{where}: each tool_use must have a single result. Found multiple "
                                  f"`tool_result` blocks with id: {block.get('tool_use_id')}")
                if block.get("tool_use_id") not in prev_calls:
                    raise Invalid(f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                                  f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                                  "`tool_use` block in the previous message.")
                results.append(block.get("tool_use_id"))
            for k, inner in enumerate(_blocks(block.get("content"))):
                if inner.get("type") in ("image", "document"):
                    _check_base64(inner, f"{where}.content.{k}.{inner['type']}")
        leading = []
        for block in blocks:
            if block.get("type") != "tool_result":
                break
            leading.append(block.get("tool_use_id"))
        if missing := [c for c in prev_calls if c not in leading]:
            raise Invalid(f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                          f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                          "`tool_result` block in the next message.")
        prev_role = role
        prev_calls = [b.get("id") for b in blocks if b.get("type") == "tool_use"] if role == "assistant" else []
    if prev_calls:
        raise Invalid(f"messages.{len(messages) - 1}: `tool_use` ids were found without `tool_result` blocks "
                      f"immediately after: {', '.join(map(str, prev_calls))}. Each `tool_use` block must have a "
                      "corresponding `tool_result` block in the next message.")
    if (n := _count_cache_control(body)) > 4:
        raise Invalid(f"A maximum of 4 blocks with cache_control may be provided. Found {n}.")
    if "tool_choice" in body and not body.get("tools"):
        raise Invalid("tool_choice: tool_choice may only be specified while providing tools")


# -- scripted answers ----------------------------------------------------------------------------

def _value(schema: Any) -> Any:
    kind = schema.get("type") if isinstance(schema, dict) else None
    return {"string": "fake", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}.get(
        str(kind), "fake")


def tool_arguments(tool: Json) -> Json:
    props = (tool.get("input_schema") or {}).get("properties") or {}
    if list(props) == ["input"] and _value(props["input"]) == "fake":
        return {"input": PATCH}
    return {name: _value(schema) for name, schema in props.items()}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text")


def _digest(body: Json) -> str:
    """Ids derive from the request (minus `stream`), so a streamed and a plain call match."""
    same = {k: v for k, v in body.items() if k != "stream"}
    return hashlib.sha256(orjson.dumps(same, option=orjson.OPT_SORT_KEYS)).hexdigest()


def answer_blocks(body: Json) -> list[Json]:
    """The content blocks of the scripted answer."""
    digest = _digest(body)
    last = (body.get("messages") or [{}])[-1]
    blocks = _blocks(last.get("content"))
    out: list[Json] = []
    thinking = body.get("thinking") or {}
    if thinking.get("type") in ("enabled", "adaptive"):
        text = f"The user wrote: {_text_of(last.get('content'))[:80]}"
        out.append({"type": "thinking", "thinking": text, "signature": sign_thinking(text)})
    results = [b for b in blocks if b.get("type") == "tool_result"]
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") in (None, "custom")]
    if "script" in str(body.get("model")):  # an agent session (tests/fakes/scripted_model.py)
        move = script.offered(script.decide(script.steps_from_anthropic(body.get("messages") or [])),
                              [str(t.get("name")) for t in tools])
        out.append({"type": "tool_use", "id": f"toolu_{digest[:24]}", "name": move.tool, "input": move.args}
                   if move.tool else {"type": "text", "text": move.text})
        return out
    choice = (body.get("tool_choice") or {}).get("type")
    if results:
        quoted = "; ".join(f"{r.get('tool_use_id')}={_text_of(r.get('content'))}" for r in results)
        out.append({"type": "text", "text": f"Tool results: {quoted}"})
    elif tools and choice != "none":
        tool = tools[0]
        if choice == "tool":
            tool = next((t for t in tools if t.get("name") == body["tool_choice"].get("name")), tool)
        out.append({"type": "tool_use", "id": f"toolu_{digest[:24]}", "name": tool["name"],
                    "input": tool_arguments(tool)})
    else:
        out.append({"type": "text", "text": f"Hello! You said: {_text_of(last.get('content'))}"})
    return out


def input_tokens(body: Json) -> int:
    sized = {k: body.get(k) for k in ("system", "messages", "tools")}
    return max(1, len(orjson.dumps(sized)) // 4)


def message_object(body: Json) -> Json:
    content = answer_blocks(body)
    digest = _digest(body)
    tool = any(b["type"] == "tool_use" for b in content)
    out_tokens = sum(len(orjson.dumps(b)) // 4 for b in content)
    cache_write = 64 if _count_cache_control(body) else 0
    return {"id": f"msg_{digest[:24]}", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": input_tokens(body), "cache_creation_input_tokens": cache_write,
                      "cache_read_input_tokens": 0,
                      "cache_creation": {"ephemeral_5m_input_tokens": cache_write, "ephemeral_1h_input_tokens": 0},
                      "output_tokens": out_tokens, "service_tier": "standard"}}


def _chunks(text: str, size: int = 12) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def stream_events(msg: Json, overload_after: int | None = None) -> list[bytes]:
    """The SSE events of `msg`, in the real order; with `overload_after`, an overloaded_error
    event replaces everything after that many events."""
    usage = msg["usage"]
    start = {**msg, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**usage, "output_tokens": 1}}
    events = [_event("message_start", {"type": "message_start", "message": start}),
              _event("ping", {"type": "ping"})]
    for i, block in enumerate(msg["content"]):
        kind = block["type"]
        first: Json = {"type": "text", "text": ""} if kind == "text" else (
            {"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking" else
            {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}})
        events.append(_event("content_block_start", {"type": "content_block_start", "index": i,
                                                     "content_block": first}))
        if kind == "text":
            deltas = [{"type": "text_delta", "text": c} for c in _chunks(block["text"])]
        elif kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            deltas = [{"type": "input_json_delta", "partial_json": c}
                      for c in ["", *_chunks(orjson.dumps(block["input"]).decode(), 7)]]
        events += [_event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
                   for d in deltas]
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(_event("message_delta", {
        "type": "message_delta", "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
        "usage": {"input_tokens": usage["input_tokens"], "cache_creation_input_tokens":
                  usage["cache_creation_input_tokens"], "cache_read_input_tokens": 0,
                  "output_tokens": usage["output_tokens"]}}))
    events.append(_event("message_stop", {"type": "message_stop"}))
    if overload_after is not None:
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        events = [*events[:overload_after], _event("error", error)]
    return events


# -- server ----------------------------------------------------------------------------------------

@dataclass
class FakeAnthropic(FakeOpenAI):
    api_key: str = "sk-ant-fake-upstream"

    def _bound(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"  # the SDK's base URL: it adds /v1 itself

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._record])
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        await self._remember(request)
        # Current SDKs send the key as a Bearer token, older clients (and Claude Code) as x-api-key.
        bearer = request.headers.get("authorization", "")
        key = request.headers.get("x-api-key") or (bearer[7:] if bearer.startswith("Bearer ") else None)
        if key is None:
            return self._fail(401, "x-api-key header is required")
        if key != self.api_key:
            return self._fail(401, "invalid x-api-key")
        version = request.headers.get("anthropic-version")
        if version is None:
            return self._fail(400, "anthropic-version: header is required")
        if not re.fullmatch(r"20\d\d-\d\d-\d\d", version):
            return self._fail(400, f"anthropic-version: invalid version {version!r}")
        resp: web.StreamResponse = await handler(request)
        return resp

    @staticmethod
    def _fail(status: int, message: str) -> web.Response:
        headers = {"request-id": "req_fake"}
        if status == 429:
            headers["retry-after"] = "7"  # Anthropic sends it with rate_limit_error
        return web.Response(status=status, body=error_body(_TYPES.get(status, "api_error"), message),
                            content_type="application/json", headers=headers)

    def _parse(self, request: web.Request, count_only: bool) -> Json | web.Response:
        try:
            body = orjson.loads(request[REC_KEY].body)
        except orjson.JSONDecodeError:
            return self._fail(400, "There was an issue with your request body: not valid JSON")
        if not isinstance(body, dict):
            return self._fail(400, "The request body is not a JSON object")
        try:
            validate(body, count_only)
        except Invalid as e:
            return self._fail(400, str(e))
        return body

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = self._parse(request, count_only=False)
        if isinstance(body, web.Response):
            return body
        model = body["model"]
        if model.startswith("fake-error-"):
            return self._fail(int(model.rsplit("-", 1)[1]), f"fake upstream error {model.rsplit('-', 1)[1]}")
        stream = bool(body.get("stream"))
        if model == "fake-too-long":  # Anthropic's context-overflow answer, before any streaming
            return self._fail(400, "prompt is too long: 250000 tokens > 200000 maximum")
        if model == "fake-overloaded" and not stream:
            return self._fail(529, "Overloaded")
        msg = message_object(body)
        if not stream:
            return web.Response(body=orjson.dumps(msg), content_type="application/json",
                                headers={"request-id": "req_fake"})
        events = stream_events(msg, overload_after=4 if model == "fake-overloaded" else None)
        return await self._stream(request, model, events)

    async def _count_tokens(self, request: web.Request) -> web.Response:
        body = self._parse(request, count_only=True)
        if isinstance(body, web.Response):
            return body
        return web.Response(body=orjson.dumps({"input_tokens": input_tokens(body)}), content_type="application/json")
