"""Reads a passthrough SSE stream without re-encoding it.

The tap sees each chunk after it was forwarded. It splits the bytes into events, keeps
the few that carry usage or ids (parsed later, in the writer thread), notes when the
first token arrived, and keeps the body for the log up to a cap.
"""

from __future__ import annotations

import re
import time

__all__ = ["SseTap"]

# Events whose data the writer needs: Responses terminal/created events, chat usage chunks,
# Anthropic's message_start (input usage, id) and message_delta (output usage).
_KEEP = (b"response.completed", b"response.incomplete", b"response.failed", b"response.created")
_MESSAGES_KEEP = (b"message_start", b"message_delta")
_CHAT_USAGE_RE = re.compile(rb'"usage"\s*:\s*\{')
_RESP_ID_RE = re.compile(rb'"id"\s*:\s*"(resp[_-][^"]+)"')
# A chat chunk carries a token when a text field is non-empty or a tool call starts.
_CHAT_TOKEN_RE = re.compile(rb'"(?:content|reasoning_content|reasoning|arguments)"\s*:\s*"[^"]|"tool_calls"')


class SseTap:
    def __init__(self, body_cap: int, dialect: str) -> None:
        """`dialect`: the API whose events these are: chat, messages, or responses (any other)."""
        self._cap = body_cap
        self._chat = dialect == "chat"
        self._messages = dialect == "messages"
        self._buf = b""
        self.size = 0
        self.body: list[bytes] = []
        self.truncated = False
        self.kept: list[bytes] = []
        self.first_token_at: float | None = None
        self.response_id: str | None = None
        self.terminal = False  # a terminal event ([DONE], response.completed/failed/incomplete, error) was seen

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if not self.truncated:
            if self.size <= self._cap:
                self.body.append(chunk)
            else:
                self.truncated = True
        buf = self._buf + chunk if self._buf else chunk
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            self._event(buf[start:end])
            start = end + 2
        self._buf = buf[start:]

    def _event(self, ev: bytes) -> None:
        ev = ev.replace(b"\r\n", b"\n") if b"\r" in ev else ev
        if self._chat:
            if self.first_token_at is None and _CHAT_TOKEN_RE.search(ev):
                self.first_token_at = time.perf_counter()
            if b"[DONE]" in ev:
                self.terminal = True
            elif _CHAT_USAGE_RE.search(ev):
                self.kept.append(ev)
            return
        if self._messages:
            head = ev[:120]
            if self.first_token_at is None and b"content_block_delta" in head:
                self.first_token_at = time.perf_counter()
            if any(k in head for k in _MESSAGES_KEEP):
                self.kept.append(ev)
            elif b"message_stop" in head or b"event: error" in head:
                self.terminal = True
            return
        if self.first_token_at is None and b".delta" in ev[:120]:
            self.first_token_at = time.perf_counter()
        if any(k in ev[:200] for k in _KEEP):
            self.kept.append(ev)
            if b"response.created" in ev[:200]:
                m = _RESP_ID_RE.search(ev)
                if m:
                    self.response_id = m.group(1).decode()
            else:
                self.terminal = True
        elif ev.startswith((b"event: error", b'data: {"type":"error"')):
            self.terminal = True  # an in-band error ends a Responses stream too

    def finish(self) -> None:
        """Treat a trailing event without its blank line as complete."""
        if self._buf.strip():
            self._event(self._buf)
        self._buf = b""
