"""IR stream events → `chat.completion.chunk` SSE, as OpenAI sends them.

A first chunk with the role, content/refusal/tool-call deltas (a call's id, type and name
in its first delta, then argument pieces), a chunk with `finish_reason`, the usage chunk
(`choices: []`) only when the client asked with `stream_options.include_usage`, then
`data: [DONE]`. A part that ends with more than its deltas carried (an upstream that sent
only final arguments) gets the rest as one more delta.
"""

from __future__ import annotations

import secrets

from lockgate import ir
from lockgate.formats.sse import sse_data

from .common import NAME, Json, encode_usage
from .response import finish_reason

_DELTA_KEY = {"text": "content", "refusal": "refusal", "reasoning": "reasoning_content",
              "summary": "reasoning_content"}


class ChatStreamEncoder:
    def __init__(self, req: ir.Request) -> None:
        opts = req.extra.get("stream_options") if req.source == NAME else None
        self._include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
        self._id = ""
        self._model = req.model
        self._created = 0
        self._started = False
        self._calls: dict[int, tuple[int, str]] = {}  # IR part index → (chat tool index, kind)
        self._sent: dict[int, str] = {}  # IR part index → text sent in deltas
        self._closed = False  # a finish or an error chunk went out
        self._done = False  # [DONE] went out

    def feed(self, event: ir.StreamEvent) -> bytes:
        if self._closed:
            return b""
        if isinstance(event, ir.StreamStart):
            self._id, self._created = event.id, event.created
            self._model = event.model or self._model
            return self._start()
        out = self._start()
        if isinstance(event, ir.StreamPartStart):
            if isinstance(event.part, ir.ToolCall):
                out += self._call_start(event.index, event.part)
            else:
                self._sent[event.index] = ""
        elif isinstance(event, ir.StreamPartDelta):
            out += self._delta(event.index, event.text, event.kind)
        elif isinstance(event, ir.StreamPartEnd):
            out += self._end(event.index, event.part)
        elif isinstance(event, ir.StreamFinish):
            self._closed = True
            out += self._chunk({}, finish_reason(event.finish_reason, bool(self._calls)))
            if self._include_usage and event.usage is not None:
                out += sse_data({**self._head(), "choices": [], "usage": encode_usage(event.usage)})
        elif isinstance(event, ir.StreamError):
            out += self._error(event)
        return out

    def finish(self, error: ir.StreamError | None = None) -> bytes:
        if self._done:
            return b""
        self._done = True
        out = self._start()
        if not self._closed:  # no finish came: the failure ending
            out += self._error(error or ir.StreamError("the upstream stream ended before it finished"))
        return out + sse_data(b"[DONE]")

    # -- chunks

    def _head(self) -> Json:
        return {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model}

    def _chunk(self, delta: Json, reason: str | None = None) -> bytes:
        chunk: Json = {**self._head(), "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                     "finish_reason": reason}]}
        if self._include_usage:
            chunk["usage"] = None  # OpenAI sends null usage on every chunk before the usage chunk
        return sse_data(chunk)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        if not self._id:
            self._id = "chatcmpl-" + secrets.token_hex(12)
        return self._chunk({"role": "assistant", "content": "", "refusal": None})

    def _call_start(self, index: int, call: ir.ToolCall) -> bytes:
        self._calls[index] = (len(self._calls), call.kind)
        self._sent[index] = ""
        body = {"name": call.name, "input" if call.kind == "custom" else "arguments": ""}
        return self._chunk({"tool_calls": [{"index": self._calls[index][0], "id": call.call_id, "type": call.kind,
                                            call.kind: body}]})

    def _delta(self, index: int, text: str, kind: str) -> bytes:
        if not text:
            return b""
        self._sent[index] = self._sent.get(index, "") + text
        if kind == "arguments":
            if index not in self._calls:
                return b""
            n, call_kind = self._calls[index]
            field = "input" if call_kind == "custom" else "arguments"
            return self._chunk({"tool_calls": [{"index": n, call_kind: {field: text}}]})
        return self._chunk({_DELTA_KEY[kind]: text})

    def _end(self, index: int, part: ir.Part) -> bytes:
        out = b""
        if isinstance(part, ir.ToolCall):
            if index not in self._calls:
                out += self._call_start(index, part)
            final, kind = part.arguments, "arguments"
        elif isinstance(part, ir.Text):
            final, kind = part.text, "text"
        elif isinstance(part, ir.Refusal):
            final, kind = part.text, "refusal"
        elif isinstance(part, ir.Reasoning):
            final, kind = part.text or "\n\n".join(part.summary), "reasoning"
        else:
            return out
        sent = self._sent.get(index, "")
        # Only what extends the sent text can still go out; a delta cannot be taken back.
        if len(final) > len(sent) and final.startswith(sent):
            out += self._delta(index, final[len(sent):], kind)
        return out

    def _error(self, error: ir.StreamError) -> bytes:
        self._closed = True
        type_ = "server_error" if error.status >= 500 else "invalid_request_error"
        return sse_data({"error": {"message": error.message, "type": type_, "param": None, "code": error.code}})
