"""A scripted fake model that drives a real coding agent (Codex) through one known session.

Each answer is chosen by what the request's history contains, not by a counter, so retries,
resumes and any client (or translator) in between get the same answer for the same state:

1. the last user turn has no tool results yet → call `exec_command` with `CMD`;
2. one result, and it shows the command's output → call `apply_patch` with `PATCH`
   (a custom tool with the raw patch on the Responses API; a function with one string
   `input` where a translator turned the custom tool into a function);
3. two results, the second a successful patch → the final text `FINAL`;
4. a user turn that follows an earlier assistant answer (`codex exec resume`) → `RESUMED`;
5. Codex's auto review: a user turn that asks for a path outside the workspace, and the guardian's
   approval request itself, are played by `guardian_script` (tests/test_codex_guardian.py).

A step that did not go as scripted gets a text saying what went wrong, which the test then
shows. `decide` works on neutral `Step`s; `steps_from_*` read each API's history, so the
Anthropic and Gemini fakes play the same script (models with "script" in the name).

`ScriptedModel` serves the OpenAI faces: `POST /v1/responses` (JSON or SSE, with reasoning
items carrying `encrypted_content`, and item ids; `issued` keeps every output item for
round-trip checks), its WebSocket mode (`socket`, responses_socket.py), and
`POST /v1/chat/completions` (a strict chat-only host, validated like `chat_upstream.FakeChatHost`).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import chat_upstream as chat
from tests.fakes import guardian_script as guardian
from tests.fakes import openai_payloads as P
from tests.fakes.responses_socket import ResponsesSocketFace
from tests.fakes.server import REC_KEY, LoopbackServer, RecordedRequest

__all__ = ["CMD", "FINAL", "MARK", "PATCH", "RESUMED", "SEED", "Move", "ScriptedModel", "Step", "decide"]

Json = dict[str, Any]

MARK = "hello-from-agent"
CMD = f"echo {MARK} | tee ran.txt"
SEED = "status: draft\n"  # notes.txt before the patch
PATCH = ("*** Begin Patch\n*** Update File: notes.txt\n@@\n-status: draft\n+status: final\n"
         "*** Add File: added.txt\n+added by the agent\n*** End Patch\n")
FINAL = f"All done: the command printed {MARK} and notes.txt now says final."
RESUMED = "Resumed: the work is still done."


@dataclass(frozen=True)
class Step:
    kind: str  # "user" | "assistant" | "call" | "result"
    text: str = ""


@dataclass(frozen=True)
class Move:
    tool: str = ""  # a call of this tool, or else the text
    args: Json = field(default_factory=dict)  # function arguments; apply_patch gets {"input": PATCH}
    text: str = ""

    @property
    def patch(self) -> str:
        return str(self.args.get("input", ""))


COMPACT_ASK = "CONTEXT CHECKPOINT COMPACTION"  # in Codex's local compaction prompt and lockgate's
SUMMARY_TAG = "SCRIPT-SUMMARY steps="


def _summarized(steps: list[Step]) -> int:
    """Steps a compaction summary in the history says are done (0 without one)."""
    for s in reversed(steps):
        if s.kind == "user" and SUMMARY_TAG in s.text:
            return int(s.text.split(SUMMARY_TAG, 1)[1].split()[0].rstrip(".,;:)"))
    return 0


def decide(steps: list[Step]) -> Move:
    """The script: the next move for a history. A compaction request is answered with a
    summary that counts the steps done; after it, the count stands in for the history."""
    users = [i for i, s in enumerate(steps) if s.kind == "user"]
    last_user = users[-1] if users else -1
    if last_user >= 0 and COMPACT_ASK in steps[last_user].text:
        before = steps[:last_user]
        done = _summarized(before) + sum(1 for s in before if s.kind == "result")
        return Move(text=f"{SUMMARY_TAG}{min(done, 2)} (the command printed {MARK}; see the patch step)")
    asked = steps[last_user].text if last_user >= 0 else ""
    results = [s.text for s in steps[last_user + 1:] if s.kind == "result"]
    if (review := guardian.review_answer(asked)) is not None:
        return Move(text=review)  # the guardian sub-agent judging the agent's escalation
    if (command := guardian.escalation(asked)) is not None:
        tool, args, text = guardian.agent_move(command, results)
        return Move(tool=tool, args=args, text=text)
    if any(s.kind == "assistant" for s in steps[:last_user]):
        return Move(text=RESUMED)
    done = _summarized(steps[:last_user + 1]) + len(results)
    if done == 0:
        return Move(tool="exec_command", args={"cmd": CMD})
    if done == 1:
        if results and MARK not in results[0]:
            return Move(text=f"Script broken: the command did not print {MARK}: {results[0][:300]}")
        return Move(tool="apply_patch", args={"input": PATCH})
    if results and "Success" not in results[-1]:
        return Move(text=f"Script broken: the patch did not apply: {results[-1][:300]}")
    return Move(text=FINAL)


def steps_from_responses(items: Any) -> list[Step]:
    if isinstance(items, str):
        return [Step("user", items)]
    steps: list[Step] = []
    for it in items or []:
        kind, role = it.get("type", "message"), it.get("role")
        if kind == "message" and role in ("user", "assistant"):
            steps.append(Step(role, P.text_of(it.get("content"))))
        elif kind in ("function_call", "custom_tool_call"):
            steps.append(Step("call", str(it.get("name"))))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            steps.append(Step("result", P.text_of(it.get("output"))))
    return steps


def steps_from_chat(messages: list[Json]) -> list[Step]:
    steps: list[Step] = []
    for m in messages:
        role = m.get("role")
        if role == "user":
            steps.append(Step("user", P.text_of(m.get("content"))))
        elif role == "assistant":
            if text := P.text_of(m.get("content")).strip():
                steps.append(Step("assistant", text))
            steps += [Step("call", str(c["function"]["name"])) for c in m.get("tool_calls") or []]
        elif role == "tool":
            steps.append(Step("result", P.text_of(m.get("content"))))
    return steps


class _Texts:
    """Adjacent text parts of one message become one step, as `P.text_of` joins a Responses message's
    parts: a translator keeps Codex's many `input_text` parts (the guardian's request has ~20) as
    separate blocks, and the script reads a message as a whole."""

    def __init__(self, steps: list[Step], kind: str) -> None:
        self.steps = steps
        self.kind = kind
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        if self.parts:
            self.steps.append(Step(self.kind, " ".join(self.parts)))
            self.parts = []


def steps_from_anthropic(messages: list[Json]) -> list[Step]:
    steps: list[Step] = []
    for m in messages:
        blocks = [{"type": "text", "text": m["content"]}] if isinstance(m.get("content"), str) else m.get("content")
        texts = _Texts(steps, "user" if m.get("role") == "user" else "assistant")
        for b in blocks or []:
            kind = b.get("type")
            if kind == "text" and b.get("text", "").strip():
                texts.add(b["text"])
                continue
            texts.flush()
            if kind == "tool_use":
                steps.append(Step("call", str(b.get("name"))))
            elif kind == "tool_result":
                steps.append(Step("result", P.text_of(b.get("content"))))
        texts.flush()
    return steps


def steps_from_gemini(contents: list[Json]) -> list[Step]:
    steps: list[Step] = []
    for c in contents:
        texts = _Texts(steps, "user" if c.get("role") == "user" else "assistant")
        for p in c.get("parts") or []:
            if p.get("text", "").strip() and not p.get("thought"):
                texts.add(p["text"])
                continue
            texts.flush()
            if "functionCall" in p:
                steps.append(Step("call", str(p["functionCall"].get("name"))))
            elif "functionResponse" in p:
                steps.append(Step("result", orjson.dumps(p["functionResponse"].get("response")).decode()))
        texts.flush()
    return steps


def offered(move: Move, names: list[str]) -> Move:
    """The move itself, or a text saying that the client did not offer its tool."""
    if not move.tool or move.tool in names:
        return move
    return Move(text=f"Script broken: no tool {move.tool!r} offered (got {', '.join(names)})")


# -- the Responses face ----------------------------------------------------------------------------

def response_output(body: Json, h: str) -> list[Json]:
    tools = {str(t.get("name")): t for t in body.get("tools") or [] if t.get("name")}
    move = offered(decide(steps_from_responses(body.get("input"))), list(tools))
    out: list[Json] = []
    if body.get("reasoning"):
        # Opaque to the client: it must come back on the next call exactly as given.
        secret = base64.b64encode(hashlib.sha256(b"script:" + h.encode()).digest()).decode()
        out.append({"id": f"rs_{h[:24]}", "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": f"**Next step** {move.tool or 'answer'}"}],
                    "encrypted_content": f"gAAAAB{secret}"})
    if move.tool and tools[move.tool].get("type") == "custom":
        out.append({"id": f"ctc_{h[:24]}", "type": "custom_tool_call", "status": "completed",
                    "call_id": f"call_{h[24:40]}", "name": move.tool, "input": move.patch})
    elif move.tool:
        out.append({"id": f"fc_{h[:24]}", "type": "function_call", "status": "completed",
                    "call_id": f"call_{h[24:40]}", "name": move.tool, "arguments": orjson.dumps(move.args).decode()})
    else:
        out.append({"id": f"msg_{h[:24]}", "type": "message", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": move.text, "annotations": [], "logprobs": []}]})
    return out


def chat_answer(body: Json) -> chat.Answer:
    names = [str(t["function"]["name"]) for t in body.get("tools") or []]
    move = offered(decide(steps_from_chat(body["messages"])), names)
    if not move.tool:
        return chat.Answer(text=move.text)
    h = hashlib.sha256(orjson.dumps(body["messages"])).hexdigest()
    return chat.Answer(call=(f"call_{h[:20]}", move.tool, orjson.dumps(move.args).decode()))


@dataclass
class ScriptedModel(LoopbackServer):
    api_key: str = "sk-scripted-model"
    requests: list[RecordedRequest] = field(default_factory=list)
    issued: list[Json] = field(default_factory=list)  # every output item answered on /v1/responses
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._thread_name = "scripted-model"
        self.socket = ResponsesSocketFace(self._answer)  # the WebSocket mode of /v1/responses

    def _bound(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/v1"

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.issued.clear()
        self.socket.clear()

    def bodies(self, path: str) -> list[Json]:
        """The JSON bodies POSTed to `path` (WebSocket turns are in `socket.frames`)."""
        with self._lock:
            return [r.json() for r in self.requests if r.path == path and r.method == "POST"]

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._auth])
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_get("/v1/responses", self.socket.handle)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        await self._remember(request)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return web.Response(status=401, content_type="application/json", body=P.error_body(
                "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
        resp: web.StreamResponse = await handler(request)
        return resp

    def _answer(self, body: Json) -> Json:
        output = response_output(body, P.digest(body))
        with self._lock:
            self.issued += output
        return {**P.response_object(body), "output": output}

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(request[REC_KEY].body)
        resp = self._answer(body)
        if not body.get("stream"):
            return web.Response(body=orjson.dumps(resp), content_type="application/json")
        events = [e for e in P.response_events(resp) if e[0] != "response.fake_unknown_event"]
        stream = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await stream.prepare(request)
        for chunk in P.encode_response_events(events):
            await stream.write(chunk)
        await stream.write_eof()
        return stream

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(request[REC_KEY].body)
        try:
            chat.validate(body, frozenset({"system", "user", "assistant", "tool"}))
        except chat.Rejected as e:
            return web.Response(status=400, content_type="application/json", body=P.error_body(
                e.message, "invalid_request_error", "invalid_request_error", e.param))
        answer = chat_answer(body)
        if not body.get("stream"):
            return web.Response(body=orjson.dumps(chat.completion(body, answer)), content_type="application/json")
        stream = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await stream.prepare(request)
        for chunk in chat.chunks(body, answer):
            await stream.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await stream.write(b"data: [DONE]\n\n")
        await stream.write_eof()
        return stream
