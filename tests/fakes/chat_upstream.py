"""A strict chat-only OpenAI-compatible host, like DeepSeek, Ollama or vLLM.

Only `POST /v1/chat/completions` (404 elsewhere, `/v1/responses` included), and it rejects
what strict hosts reject: tools other than `function` (no custom tools), a tool message
that does not answer a call of the assistant message just before it, an assistant
`tool_calls` message not followed by all its tool messages (peers §3.3 #10), tool content
that is not a string or text parts (#5), unknown roles (`developer` included unless
`roles` says otherwise), a `tool_choice` without `tools` (vLLM, DashScope).

Deterministic answers: a tool call for the first offered function when the last message
is from the user (arguments built from its schema; a function whose only parameter is a
string `input` gets a small apply_patch-style patch), a text quoting the tool results when
the last messages are tool results, otherwise a greeting. Models: `fake-args-at-end`
streams the call with empty argument pieces and the whole arguments in the last delta
(as OpenRouter does), `fake-reasoning` adds `reasoning_content`, `fake-error-<status>`
fails. Streams end with a usage chunk when `stream_options.include_usage` is set; models ending in
`-nousage` never report usage (as some local servers do).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai_upstream import REC_KEY, RecordedRequest
from tests.fakes.server import LoopbackServer

__all__ = ["PATCH", "FakeChatHost"]

CREATED = 1763000000
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello from the fake\n*** End Patch\n"
REASONING = "The user wants an answer. I will give one."
Json = dict[str, Any]


class Rejected(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param


@dataclass
class FakeChatHost(LoopbackServer):
    api_key: str = "sk-fake-chat"
    roles: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})
    requests: list[RecordedRequest] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._thread_name = "fake-chat-host"

    # -- lifecycle

    def _bound(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/v1"

    def last_body(self) -> Json:
        with self._lock:
            body: Json = self.requests[-1].json()
        return body

    # -- app

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._record])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        await self._remember(request)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Authentication Fails (no such user)", "authentication_error", "invalid_api_key")
        resp: web.StreamResponse = await handler(request)
        return resp

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(404, f"Not Found: {request.method} {request.path}", "invalid_request_error", "not_found")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(request[REC_KEY].body)
            validate(body, self.roles)
        except orjson.JSONDecodeError:
            return _error(400, "Failed to parse the request body as JSON", "invalid_request_error", None)
        except Rejected as e:
            return _error(400, e.message, "invalid_request_error", "invalid_request_error", e.param)
        model = body["model"]
        if model.startswith("fake-error-"):
            status = int(model.rsplit("-", 1)[1])
            return _error(status, f"fake chat host error {status}", "server_error" if status >= 500 else
                          "invalid_request_error", None)
        answer = plan(body)
        if not body.get("stream"):
            return web.Response(body=orjson.dumps(completion(body, answer)), content_type="application/json")
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await resp.prepare(request)
        for chunk in chunks(body, answer):
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _error(status: int, message: str, type_: str, code: str | None, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


# -- validation ----------------------------------------------------------------------------------

def validate(body: Any, roles: frozenset[str]) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise Rejected("model is required", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Rejected("messages must be a non-empty array", "messages")
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise Rejected(f"tools[{i}].type: only 'function' tools are supported", f"tools[{i}].type")
        if not isinstance(tool.get("function"), dict) or not isinstance(tool["function"].get("name"), str):
            raise Rejected(f"tools[{i}].function.name is required", f"tools[{i}].function")
    if body.get("tool_choice") not in (None, "none") and not body.get("tools"):
        # vLLM's words (DashScope says the same): a choice among no tools is refused.
        raise Rejected("When using `tool_choice`, `tools` must be set.", "tool_choice")
    if "stream_options" in body and not body.get("stream"):
        raise Rejected("stream_options is only allowed when stream is true", "stream_options")
    owed: list[str] = []  # call ids of the last assistant message still without a tool message
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict) or msg.get("role") not in roles:
            raise Rejected(f"{where}.role: unknown variant {msg.get('role') if isinstance(msg, dict) else None!r}",
                           f"{where}.role")
        role = msg["role"]
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in owed:
                raise Rejected(f"{where}: messages with role 'tool' must be a response to a preceding message with "
                               f"'tool_calls' (no call {call_id!r} is waiting)", f"{where}.tool_call_id")
            owed.remove(call_id)
            _check_text_content(msg.get("content"), where, allow_null=False)
            continue
        if owed:
            raise Rejected("An assistant message with 'tool_calls' must be followed by tool messages responding to "
                           f"each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                           f"{', '.join(owed)}", f"{where}.role")
        if role == "assistant":
            _check_text_content(msg.get("content"), where, allow_null=True)
            for j, call in enumerate(msg.get("tool_calls") or []):
                owed.append(_check_call(call, f"{where}.tool_calls[{j}]"))
        elif role == "user":
            _check_user_content(msg.get("content"), where)
        else:
            _check_text_content(msg.get("content"), where, allow_null=False)
    if owed:
        raise Rejected("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                       f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(owed)}",
                       "messages")


def _check_call(call: Any, where: str) -> str:
    if not isinstance(call, dict) or call.get("type") != "function" or not isinstance(call.get("id"), str):
        raise Rejected(f"{where}: a tool call needs an id and type 'function'", where)
    fn = call.get("function")
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(fn.get("arguments"), str):
        raise Rejected(f"{where}.function: name and arguments (a string) are required", f"{where}.function")
    try:
        orjson.loads(fn["arguments"])
    except orjson.JSONDecodeError:
        raise Rejected(f"{where}.function.arguments is not valid JSON", f"{where}.function.arguments") from None
    return str(call["id"])


def _check_text_content(content: Any, where: str, allow_null: bool) -> None:
    if isinstance(content, str) or (content is None and allow_null):
        return
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return
    raise Rejected(f"{where}.content must be a string or an array of text parts", f"{where}.content")


def _check_user_content(content: Any, where: str) -> None:
    if isinstance(content, str):
        return
    ok = isinstance(content, list) and all(
        isinstance(p, dict) and ((p.get("type") == "text" and isinstance(p.get("text"), str))
                                 or (p.get("type") == "image_url" and isinstance(p.get("image_url"), dict)))
        for p in content)
    if not ok:
        raise Rejected(f"{where}.content must be a string or an array of text and image_url parts",
                       f"{where}.content")


# -- answers ---------------------------------------------------------------------------------------

@dataclass
class Answer:
    text: str = ""
    call: tuple[str, str, str] | None = None  # (id, name, arguments)
    reasoning: str = ""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def plan(body: Json) -> Answer:
    messages = body["messages"]
    digest = hashlib.sha256(orjson.dumps(messages)).hexdigest()
    answer = Answer(reasoning=REASONING if body["model"] == "fake-reasoning" else "")
    last = messages[-1]
    tools = body.get("tools") or []
    if tools and last["role"] == "user" and body.get("tool_choice") != "none":
        fn = tools[0]["function"]
        answer.call = (f"call_{digest[:20]}", fn["name"], orjson.dumps(arguments_for(fn.get("parameters"))).decode())
    elif last["role"] == "tool":
        results = []
        for msg in reversed(messages):
            if msg["role"] != "tool":
                break
            results.append(f"{msg['tool_call_id']}: {_text(msg['content'])}")
        answer.text = "Tool results: " + " | ".join(reversed(results))
    else:
        user = next((_text(m.get("content")) for m in reversed(messages) if m["role"] == "user"), "")
        answer.text = f"Hello from the chat fake: {user}"
    return answer


def arguments_for(schema: Any) -> Json:
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return {}
    if list(props) == ["input"] and props["input"].get("type") == "string":
        return {"input": PATCH}  # a custom tool offered as a one-string function
    samples: dict[str, Any] = {"string": "fake", "integer": 1, "number": 1.5, "boolean": True, "array": [],
                               "object": {}}
    return {name: samples.get(p.get("type") if isinstance(p, dict) else None, "fake") for name, p in props.items()}


def _ids(body: Json) -> str:
    return "chatcmpl-" + hashlib.sha256(orjson.dumps(body["messages"])).hexdigest()[:24]


def _usage(body: Json, answer: Answer) -> Json:
    prompt = max(1, len(orjson.dumps(body["messages"])) // 4)
    reasoning = len(answer.reasoning.split())
    completion = len(answer.text.split()) + reasoning + (len(answer.call[2]) // 4 if answer.call else 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": reasoning}}


def completion(body: Json, answer: Answer) -> Json:
    message: Json = {"role": "assistant", "content": answer.text or None}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.call:
        message["tool_calls"] = [{"id": answer.call[0], "type": "function",
                                  "function": {"name": answer.call[1], "arguments": answer.call[2]}}]
    return {"id": _ids(body), "object": "chat.completion", "created": CREATED, "model": body["model"],
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if answer.call else "stop"}],
            "usage": None if body["model"].endswith("-nousage") else _usage(body, answer),
            "system_fingerprint": "fp_fake"}


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def chunks(body: Json, answer: Answer) -> list[Json]:
    include_usage = (body.get("stream_options") or {}).get("include_usage") is True and not (
        body["model"].endswith("-nousage"))
    head = {"id": _ids(body), "object": "chat.completion.chunk", "created": CREATED, "model": body["model"],
            "system_fingerprint": "fp_fake"}

    def chunk(delta: Json, reason: str | None = None) -> Json:
        out = {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]}
        return {**out, "usage": None} if include_usage else out

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"reasoning_content": p}) for p in _pieces(answer.reasoning)]
    out += [chunk({"content": p}) for p in _pieces(answer.text)]
    finish: Json = {}
    if answer.call:
        call_id, name, args = answer.call
        out.append(chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                          "function": {"name": name, "arguments": ""}}]}))
        if body["model"] == "fake-args-at-end":
            out += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}) for _ in range(3)]
            finish = {"tool_calls": [{"index": 0, "function": {"arguments": args}}]}
        else:
            out += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in _pieces(args)]
    out.append(chunk(finish, "tool_calls" if answer.call else "stop"))
    if include_usage:
        out.append({**head, "choices": [], "usage": _usage(body, answer)})
    return out
