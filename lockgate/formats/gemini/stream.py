"""`streamGenerateContent?alt=sse` → IR stream events.

Every SSE `data:` is a whole `GenerateContentResponse` holding the next slice of the
answer. Consecutive text slices form one IR text part (thought slices one reasoning part);
a `functionCall` always arrives whole in one chunk and becomes start + one arguments delta
+ end. A thought signature may ride on a slice of text or arrive alone on an empty text
part at the end: it belongs to the part it follows. `usageMetadata` is cumulative; the
finish goes out with the chunk that carries `finishReason`. A stream that stops without
one gets its open part closed by `close()`; the caller adds the failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from lockgate import ir
from lockgate.formats.gemini.parts import FORMAT_NAME, SIGNATURE, call_id
from lockgate.formats.gemini.response import finish_reason, response_token, usage

__all__ = ["GeminiStreamDecoder"]

Json = dict[str, Any]


@dataclass(slots=True)
class _Open:
    index: int
    kind: Literal["text", "reasoning"]
    text: str = ""
    signature: str | None = None

    def part(self) -> ir.Text | ir.Reasoning:
        if self.kind == "reasoning":
            return ir.Reasoning(text=self.text, signature=self.signature, source=FORMAT_NAME)
        return ir.Text(text=self.text, extra={SIGNATURE: self.signature} if self.signature else {})


class GeminiStreamDecoder:
    __slots__ = ("_calls", "_finished", "_next", "_open", "_started", "_token", "_usage")

    def __init__(self) -> None:
        self._started = False
        self._finished = False
        self._token = ""
        self._next = 0
        self._calls = 0
        self._open: _Open | None = None
        self._usage: ir.Usage | None = None

    def feed(self, event: str | None, data: bytes) -> list[ir.StreamEvent]:
        if not data.strip() or self._finished:
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return [ir.StreamError(f"Gemini sent a stream chunk that is not JSON: {data[:200]!r}")]
        if not isinstance(chunk, dict):
            return [ir.StreamError("Gemini sent a stream chunk that is not an object")]
        if isinstance(chunk.get("error"), dict):
            return self._error(chunk["error"])
        out: list[ir.StreamEvent] = []
        if not self._started:
            self._started = True
            self._token = response_token(chunk, data)
            out.append(ir.StreamStart(id=str(chunk.get("responseId") or self._token[:24]),
                                      model=str(chunk.get("modelVersion") or "")))
        self._usage = usage(chunk.get("usageMetadata")) or self._usage
        candidates = chunk.get("candidates") or []
        cand: Json = candidates[0] if candidates else {}
        for part in (cand.get("content") or {}).get("parts") or []:
            out += self._part(part)
        raw = cand.get("finishReason")
        blocked = not candidates and (chunk.get("promptFeedback") or {}).get("blockReason")
        if raw or blocked:
            out += self._close_open()
            reason: ir.FinishReason = "content_filter" if blocked else finish_reason(raw, self._calls > 0)
            out.append(ir.StreamFinish(reason, usage=self._usage))
            self._finished = True
        return out

    def close(self) -> list[ir.StreamEvent]:
        return self._close_open()

    # -- parts

    def _part(self, part: Json) -> list[ir.StreamEvent]:
        sig = part.get(SIGNATURE) if isinstance(part.get(SIGNATURE), str) else None
        if "functionCall" in part:
            return self._call(part["functionCall"] or {}, sig)
        if "text" in part:
            return self._text(part.get("text") or "", sig, "reasoning" if part.get("thought") else "text")
        return []  # inline images, server-side code execution: no streaming form in the IR

    def _text(self, text: str, sig: str | None, kind: Literal["text", "reasoning"]) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        cur = self._open
        if cur is not None and not text and sig is not None and cur.signature is None:
            cur.signature = sig  # the signature of what came before
            return out
        if cur is None or cur.kind != kind or (sig is not None and cur.signature is not None):
            out += self._close_open()
            cur = self._open = _Open(self._next, kind)
            self._next += 1
            start: ir.Text | ir.Reasoning = ir.Text("") if kind == "text" else ir.Reasoning(source=FORMAT_NAME)
            out.append(ir.StreamPartStart(cur.index, start))
        if text:
            cur.text += text
            out.append(ir.StreamPartDelta(cur.index, text, kind=kind))
        if sig is not None:
            cur.signature = sig
        return out

    def _call(self, fc: Json, sig: str | None) -> list[ir.StreamEvent]:
        out = self._close_open()
        index = self._next
        self._next += 1
        cid = fc.get("id") or call_id(self._token, self._calls)
        self._calls += 1
        name = str(fc.get("name") or "")
        args = orjson.dumps(fc.get("args") or {}).decode()
        out.append(ir.StreamPartStart(index, ir.ToolCall(call_id=cid, name=name, arguments="")))
        out.append(ir.StreamPartDelta(index, args, kind="arguments"))
        out.append(ir.StreamPartEnd(index, ir.ToolCall(call_id=cid, name=name, arguments=args,
                                                       extra={SIGNATURE: sig} if sig else {})))
        return out

    def _close_open(self) -> list[ir.StreamEvent]:
        cur, self._open = self._open, None
        return [] if cur is None else [ir.StreamPartEnd(cur.index, cur.part())]

    def _error(self, err: Json) -> list[ir.StreamEvent]:
        out = self._close_open()
        self._finished = True
        code = err.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else 502
        out.append(ir.StreamError(str(err.get("message") or "Gemini stream error"),
                                  code=str(err.get("status") or "upstream_error"), status=status))
        return out
