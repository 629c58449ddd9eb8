"""A protocol-true fake Gemini API: `models/{model}:generateContent` and
`:streamGenerateContent` (SSE with `alt=sse`, a JSON array without), v1beta.

An aiohttp server on 127.0.0.1 in a background thread (like `openai_upstream`). It checks
`x-goog-api-key` (or `?key=`), validates requests like the real API (`gemini_validate`),
and answers deterministically from the request:
- the last user turn holds function responses → a text quoting them;
- functions are declared (mode not NONE) → a call of the first one (or the first allowed
  name), args filled from its schema; models with "parallel" in the name call the first two;
- otherwise a text echoing the last user text (a JSON object when JSON output is asked);
- models with "script" in the name play `scripted_model`'s agent session instead.
Thinking models (`gemini-2.5*`, `gemini-3*`, names with "thinking") sign their output:
the first call of a step, or the last text part (in streams an empty final text part).
Strict ones (all but 2.5) also return call ids and reject a current-turn call without its
signature, like Gemini 3. `includeThoughts` adds a thought part. `maxOutputTokens` cuts the
text by words (MAX_TOKENS). Models `fake-error-<status>` fail; `fake-drop` ends its stream
after two chunks without a finishReason.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import scripted_model as script
from tests.fakes.gemini_validate import normalize, validate
from tests.fakes.openai_upstream import RecordedRequest
from tests.fakes.server import LoopbackServer

__all__ = ["FakeGemini", "RecordedRequest"]

Json = dict[str, Any]

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_UNREGISTERED = ("Method doesn't allow unregistered callers (callers without established identity). "
                 "Please use API Key or other form of API consumer identity to call this API.")


_RATE_LIMIT_DETAILS: list[Json] = [
    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaValue": "15"}]},
    {"@type": "type.googleapis.com/google.rpc.Help", "links": [
        {"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "20.5s"}]


def error_body(code: int, message: str, details: list[Json] | None = None) -> bytes:
    err: Json = {"code": code, "message": message, "status": _STATUS.get(code, "UNKNOWN")}
    if details:
        err["details"] = details
    return orjson.dumps({"error": err})


def _words(text: str) -> list[str]:
    return text.split()


@dataclass
class _Answer:
    parts: list[Json]
    finish: str
    usage: Json


@dataclass
class FakeGemini(LoopbackServer):
    api_key: str = "fake-gemini-key"
    requests: list[RecordedRequest] = field(default_factory=list)
    url: str = ""  # the root, as google-genai's `base_url` takes it
    base_url: str = ""  # with /v1beta, as lockgate's provider takes it

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._signatures: set[str] = set()
        self._counter = 0
        self._thread_name = "fake-gemini"

    # -- lifecycle

    def _bound(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = self.url + "/v1beta"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for version in ("v1beta", "v1", "v1alpha"):  # google-genai 3.x defaults to v1
            app.router.add_post(f"/{version}/models/{{call}}", self._handle)
        return app

    def signature_known(self, sig: str) -> bool:
        with self._lock:
            return sig in self._signatures

    # -- HTTP

    @staticmethod
    def _error(code: int, message: str, details: list[Json] | None = None) -> web.Response:
        return web.Response(status=code, body=error_body(code, message, details), content_type="application/json")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec = await self._remember(request)
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return self._error(403, _UNREGISTERED)
        if key != self.api_key:
            return self._error(400, "API key not valid. Please pass a valid API key.", [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])
        model, _, method = request.match_info["call"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return self._error(404, f"Method {method!r} not found.")
        if model.startswith("fake-error-"):
            status = int(model.rsplit("-", 1)[1])
            if status == 429:  # what Gemini sends for a per-minute quota: the delay in the body only
                return self._error(429, "You exceeded your current quota, please check your plan and billing "
                                        "details. fake upstream error 429", _RATE_LIMIT_DETAILS)
            return self._error(status, f"fake upstream error {status}")
        try:
            body = normalize(orjson.loads(rec.body))
        except orjson.JSONDecodeError:
            return self._error(400, "Invalid JSON payload received. Unexpected token.")
        budget_model = model.startswith(("gemini-1.", "gemini-2."))
        if (err := validate(body, self._strict(model), budget_model, self.signature_known)) is not None:
            return self._error(400, err)
        answer = self._answer(model, body)
        with self._lock:
            self._counter += 1
            rid = f"fakeResp{self._counter:06d}"
        if method == "generateContent":
            return web.Response(body=orjson.dumps(self._response(model, rid, answer)), content_type="application/json")
        chunks = self._chunks(model, rid, answer)
        if request.query.get("alt") != "sse":
            return web.Response(body=orjson.dumps(chunks), content_type="application/json")
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in chunks[:2] if model == "fake-drop" else chunks:
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n")
        await resp.write_eof()
        return resp

    # -- behaviour

    @staticmethod
    def _thinking(model: str) -> bool:
        return model.startswith(("gemini-2.5", "gemini-3")) or "thinking" in model

    def _strict(self, model: str) -> bool:
        return self._thinking(model) and not model.startswith("gemini-2.5")

    def _sign(self, model: str) -> str:
        with self._lock:
            n = len(self._signatures)
            sig = base64.b64encode(f"fake-signature:{model}:{n}".encode()).decode()
            self._signatures.add(sig)
        return sig

    def _answer(self, model: str, body: Json) -> _Answer:
        contents: list[Json] = body["contents"]
        gen: Json = body.get("generationConfig") or {}
        thinking = self._thinking(model)
        last = contents[-1]
        user_text = " ".join(p["text"] for p in last["parts"] if "text" in p and not p.get("thought"))
        prompt_tokens = max(1, len(_words(orjson.dumps(body).decode())) // 2)
        parts: list[Json] = []
        thoughts = 0
        if thinking and (gen.get("thinkingConfig") or {}).get("includeThoughts"):
            thought = f"Thinking about: {user_text or 'the function results'}"
            parts.append({"text": thought, "thought": True})
            thoughts = len(_words(thought)) + 5
        elif thinking:
            thoughts = 5
        calls = self._calls(model, body) if last["role"] == "user" and user_text else []
        move = None
        if "script" in model:  # an agent session (tests/fakes/scripted_model.py)
            names = [d["name"] for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
            move = script.offered(script.decide(script.steps_from_gemini(contents)), names)
            calls = self._decorate(model, [{"name": move.tool, "args": move.args}] if move.tool else [])
        finish = "STOP"
        if calls:
            parts += calls
            out_tokens = sum(len(orjson.dumps(c).split(b",")) for c in calls) + 3
        else:
            text = move.text if move is not None else self._text(contents, user_text, gen)
            words = text.split(" ")
            limit = gen.get("maxOutputTokens")
            if isinstance(limit, int) and len(words) > limit:
                text, finish = " ".join(words[:limit]), "MAX_TOKENS"
            part: Json = {"text": text}
            if thinking:
                part["thoughtSignature"] = self._sign(model)
            parts.append(part)
            out_tokens = len(_words(text))
        usage: Json = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": out_tokens,
                       "totalTokenCount": prompt_tokens + out_tokens + thoughts,
                       "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}]}
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return _Answer(parts, finish, usage)

    def _calls(self, model: str, body: Json) -> list[Json]:
        decls = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
        fcc = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if not decls or fcc.get("mode") == "NONE":
            return []
        allowed = fcc.get("allowedFunctionNames")
        if allowed:
            decls = [d for d in decls if d["name"] in allowed]
        chosen = decls[:2] if "parallel" in model else decls[:1]
        return self._decorate(model, [{"name": d["name"], "args": _args(d.get("parametersJsonSchema")
                                                                          or d.get("parameters"))} for d in chosen])

    def _decorate(self, model: str, calls: list[Json]) -> list[Json]:
        """Function-call parts as the model gives them: with ids and a signature where it would."""
        out: list[Json] = []
        for i, fc in enumerate(calls):
            if self._strict(model):
                with self._lock:
                    fc["id"] = f"fc{self._counter:04d}x{i}"
            part: Json = {"functionCall": fc}
            if i == 0 and self._thinking(model):  # parallel calls: only the first is signed
                part["thoughtSignature"] = self._sign(model)
            out.append(part)
        return out

    @staticmethod
    def _text(contents: list[Json], user_text: str, gen: Json) -> str:
        responses = [p["functionResponse"] for p in contents[-1]["parts"] if "functionResponse" in p]
        if responses:
            text = " ".join(f"Function {r['name']} returned {orjson.dumps(r['response']).decode()}."
                            for r in responses)
        else:
            text = f"Hello! You said: {user_text}"
        if gen.get("responseMimeType") == "application/json":
            return orjson.dumps({"answer": text}).decode()
        return text

    # -- wire shapes

    @staticmethod
    def _response(model: str, rid: str, a: _Answer) -> Json:
        return {"candidates": [{"content": {"parts": a.parts, "role": "model"}, "finishReason": a.finish,
                                "index": 0}],
                "usageMetadata": a.usage, "modelVersion": model, "responseId": rid}

    @staticmethod
    def _chunks(model: str, rid: str, a: _Answer) -> list[Json]:
        slices: list[Json] = []
        for part in a.parts:
            if "functionCall" in part:
                slices.append(part)
                continue
            words = part["text"].split(" ")
            pieces = [" ".join(words[i:i + 3]) + (" " if i + 3 < len(words) else "") for i in range(0, len(words), 3)]
            slices += [{**{k: v for k, v in part.items() if k != "thoughtSignature"}, "text": p} for p in pieces]
            if "thoughtSignature" in part:  # streams sign the text on an empty final part
                slices.append({"text": "", "thoughtSignature": part["thoughtSignature"]})
        prompt = a.usage["promptTokenCount"]
        chunks: list[Json] = []
        for i, s in enumerate(slices):
            cand: Json = {"content": {"parts": [s], "role": "model"}, "index": 0}
            usage: Json = {"promptTokenCount": prompt, "totalTokenCount": prompt,
                           "promptTokensDetails": a.usage["promptTokensDetails"]}
            if i == len(slices) - 1:
                cand["finishReason"] = a.finish
                usage = a.usage
            chunks.append({"candidates": [cand], "usageMetadata": usage, "modelVersion": model, "responseId": rid})
        return chunks


PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"


def _args(schema: Any) -> Json:
    """Deterministic arguments for a declared schema: every property gets a plain value."""
    if not isinstance(schema, dict):
        return {}
    values = {"string": "test", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}
    if list(schema.get("properties") or {}) == ["input"]:  # a freeform tool sent as a function: write a patch
        return {"input": PATCH}
    out: Json = {}
    for name, prop in (schema.get("properties") or {}).items():
        t = prop.get("type") if isinstance(prop, dict) else None
        t = t.lower() if isinstance(t, str) else "string"
        out[name] = values.get(t, "test")
    return out
