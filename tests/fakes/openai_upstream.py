"""A protocol-true fake OpenAI upstream: Responses, Chat Completions, Embeddings, Models.

An aiohttp server on 127.0.0.1 in a background thread with its own loop, so sync and
async tests can share it. Responses are deterministic (see `openai_payloads`), so a test
can compare a direct call with a call through the gateway byte for byte. Model names
`fake-error-<status>`, `fake-quota` (429 insufficient_quota, no Retry-After, as OpenAI sends it),
`fake-slow`, `fake-stall`, `fake-drop` and `fake-big` trigger failure behaviours; a model ending in
`-done-only` streams function arguments without deltas. `socket` is the WebSocket mode of
/v1/responses (responses_socket.py).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import openai_payloads as P
from tests.fakes.responses_socket import ResponsesSocketFace
from tests.fakes.server import REC_KEY, LoopbackServer, RecordedRequest

__all__ = ["FakeOpenAI", "RecordedRequest", "sse_events"]

_ERRORS = {
    400: ("invalid_request_error", "invalid_value"), 401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"), 429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", "server_error"), 503: ("server_error", "service_unavailable"),
}


def sse_events(raw: bytes) -> list[tuple[str | None, bytes]]:
    """Split an SSE byte stream into (event name, data) pairs."""
    out: list[tuple[str | None, bytes]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name: str | None = None
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
        if name is not None or data:
            out.append((name, b"\n".join(data)))
    return out


@dataclass
class FakeOpenAI(LoopbackServer):
    api_key: str = "sk-fake-upstream"
    stream_delay: float = 0.0
    slow_seconds: float = 1.0
    requests: list[RecordedRequest] = field(default_factory=list)
    disconnect_event: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def __post_init__(self) -> None:
        self._stored: dict[str, dict[str, Any]] = {}
        self._inputs: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._thread_name = "fake-openai"
        self.socket = ResponsesSocketFace(P.response_object, self.slow_seconds)  # GET /v1/responses upgrades

    # -- lifecycle

    def _bound(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/v1"

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
        self.socket.clear()

    # -- app

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._record])
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_get("/v1/responses", self.socket.handle)
        app.router.add_get("/v1/responses/{id}", self._get_response)
        app.router.add_delete("/v1/responses/{id}", self._delete_response)
        app.router.add_get("/v1/responses/{id}/input_items", self._input_items)
        app.router.add_post("/v1/responses/{id}/cancel", self._cancel)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{id}", self._model)
        # Azure OpenAI's two URL schemes (v1, and classic with api-version), keyed by `api-key`.
        app.router.add_post("/openai/v1/responses", self._responses)
        app.router.add_get("/openai/v1/responses", self.socket.handle)
        app.router.add_post("/openai/v1/chat/completions", self._chat)
        app.router.add_post("/openai/responses", self._azure_versioned(self._responses))
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._azure_versioned(self._chat))
        return app

    def _azure_versioned(self, handler: Any) -> Any:
        async def versioned(request: web.Request) -> web.StreamResponse:
            if not request.query.get("api-version"):
                return self._error(404, "Resource not found", "invalid_request_error", "404")
            resp: web.StreamResponse = await handler(request)
            return resp
        return versioned

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        await self._remember(request)
        if request.path.startswith("/openai/"):
            if request.headers.get("api-key") != self.api_key:
                return self._error(401, "Access denied due to invalid subscription key.", "invalid_request_error",
                                   "401")
        elif request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        resp: web.StreamResponse = await handler(request)
        return resp

    @staticmethod
    def _error(status: int, message: str, type_: str, code: str | None, param: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, body=P.error_body(message, type_, code, param),
                            content_type="application/json", headers=headers)

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = orjson.loads(request[REC_KEY].body)
        except orjson.JSONDecodeError:
            return self._error(400, "We could not parse the JSON body of your request.", "invalid_request_error",
                               None)
        if not isinstance(body, dict) or not body.get("model"):
            return self._error(400, "you must provide a model parameter", "invalid_request_error", None, "model")
        return body

    async def _behaviour(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse | None:
        """Failure modes picked by the model name; None for a normal answer."""
        model = str(body["model"])
        if model.startswith("fake-error-"):
            status = int(model.rsplit("-", 1)[1])
            type_, code = _ERRORS.get(status, ("server_error", "server_error"))
            headers = {"Retry-After": "1"} if status == 429 else None
            return self._error(status, f"fake upstream error {status}", type_, code, headers=headers)
        if model == "fake-quota":
            return self._error(429, "You exceeded your current quota, please check your plan and billing details.",
                               "insufficient_quota", "insufficient_quota")
        if model == "fake-slow":
            await asyncio.sleep(self.slow_seconds)
        if model == "fake-stall" and not body.get("stream"):
            await self._wait_disconnect(request)
            return web.Response(status=499)
        return None

    async def _wait_disconnect(self, request: web.Request, resp: web.StreamResponse | None = None) -> None:
        while True:
            await asyncio.sleep(0.05)
            transport = request.transport
            closing = transport is None or transport.is_closing()
            if not closing and resp is not None:
                try:
                    await resp.write(b": keep-alive\n\n")
                except (ConnectionError, RuntimeError):
                    closing = True
            if closing:
                request[REC_KEY].disconnected = True
                self.disconnect_event.set()
                return

    async def _stream(self, request: web.Request, model: str, chunks: list[bytes]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8",
                                           "cache-control": "no-cache", "x-request-id": "req_fake"})
        await resp.prepare(request)
        limit = 2 if model in ("fake-stall", "fake-drop") else len(chunks)
        for chunk in chunks[:limit]:
            await resp.write(chunk)
            if self.stream_delay:
                await asyncio.sleep(self.stream_delay)
        if model == "fake-stall":
            await self._wait_disconnect(request, resp)
            return resp
        if model == "fake-drop":
            if request.transport is not None:
                request.transport.close()
            return resp
        await resp.write_eof()
        return resp

    # -- handlers

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if (special := await self._behaviour(request, body)) is not None:
            return special
        resp = P.response_object(body)
        with self._lock:
            self._stored[resp["id"]] = resp
            items = body["input"] if isinstance(body.get("input"), list) else [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": body.get("input")}]}]
            self._inputs[resp["id"]] = [{"id": f"msg_in_{i}", **it} if isinstance(it, dict) else it
                                        for i, it in enumerate(items)]
        if body.get("stream"):
            events = P.response_events(resp)
            if str(body["model"]).endswith("-done-only"):
                # Like gpt-5.3-codex-spark: function arguments only in the .done event, no deltas.
                events = [e for e in events if e[0] != "response.function_call_arguments.delta"]
            return await self._stream(request, body["model"], P.encode_response_events(events))
        return web.Response(body=orjson.dumps(resp), content_type="application/json",
                            headers={"x-request-id": "req_fake"})

    def _stored_or_404(self, request: web.Request) -> dict[str, Any] | web.Response:
        rid = request.match_info["id"]
        with self._lock:
            found = self._stored.get(rid)
        if found is None:
            return self._error(404, f"Response with id '{rid}' not found.", "invalid_request_error", None, "id")
        return found

    async def _get_response(self, request: web.Request) -> web.Response:
        found = self._stored_or_404(request)
        return found if isinstance(found, web.Response) else web.json_response(found, dumps=_dumps)

    async def _delete_response(self, request: web.Request) -> web.Response:
        found = self._stored_or_404(request)
        if isinstance(found, web.Response):
            return found
        with self._lock:
            self._stored.pop(found["id"], None)
        return web.json_response({"id": found["id"], "object": "response.deleted", "deleted": True}, dumps=_dumps)

    async def _input_items(self, request: web.Request) -> web.Response:
        found = self._stored_or_404(request)
        if isinstance(found, web.Response):
            return found
        data = self._inputs.get(found["id"], [])
        return web.json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None, "has_more": False}, dumps=_dumps)

    async def _cancel(self, request: web.Request) -> web.Response:
        found = self._stored_or_404(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response({**found, "status": "cancelled"}, dumps=_dumps)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if (special := await self._behaviour(request, body)) is not None:
            return special
        if body.get("stream"):
            return await self._stream(request, body["model"], P.chat_chunks(body))
        return web.Response(body=orjson.dumps(P.chat_completion(body)), content_type="application/json")

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if (special := await self._behaviour(request, body)) is not None:
            return special
        return web.Response(body=orjson.dumps(P.embeddings(body)), content_type="application/json")

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [P.model_object(m) for m in P.MODELS]}, dumps=_dumps)

    async def _model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["id"]
        if model_id not in P.MODELS:
            return self._error(404, f"The model '{model_id}' does not exist", "invalid_request_error",
                               "model_not_found", "model")
        return web.json_response(P.model_object(model_id), dumps=_dumps)


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()
