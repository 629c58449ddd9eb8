"""`Helicone-*` and `lockgate-*` request headers → RequestMeta, read once per request."""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from lockgate.observe.record import RequestMeta

__all__ = ["AUTH_HEADERS", "CODEX_HEADERS", "OWN_PREFIXES", "client_request_id", "codex_session", "id_headers",
           "read_meta"]

OWN_PREFIXES = (b"helicone-", b"lockgate-")
AUTH_HEADERS = (b"helicone-auth", b"lockgate-auth")
_FIELDS = {"session-id": "session_id", "session-path": "session_path", "session-name": "session_name",
           "user-id": "user_id",
           "request-id": "request_id",
           "model-override": "model_override",
           }
_FLAGS = {"omit-request": "omit_request", "omit-response": "omit_response"}


def read_meta(own: list[tuple[bytes, bytes]]) -> RequestMeta:
    """Build the meta from the headers that carry one of OWN_PREFIXES (names lower-case)."""
    meta = RequestMeta()
    for raw_name, raw_value in own:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("utf-8", "replace")
        if raw_name in AUTH_HEADERS:
            continue  # a credential: never stored
        meta.headers[name] = value
        suffix = name.split("-", 1)[1]
        if suffix in _FIELDS:
            setattr(meta, _FIELDS[suffix], value)
        elif suffix in _FLAGS:
            setattr(meta, _FLAGS[suffix], value.strip().lower() == "true")
        elif suffix.startswith("property-"):
            meta.properties[suffix[len("property-"):]] = value
    return meta


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def client_request_id(meta: RequestMeta) -> str | None:
    """The client's Helicone-Request-Id when it is a UUID (Helicone's rule; else lockgate makes one)."""
    rid = meta.request_id
    return rid.lower() if rid is not None and _UUID.match(rid.strip()) and rid == rid.strip() else None


def id_headers(request_id: str) -> list[tuple[bytes, bytes]]:
    """The response headers that carry the request id: lockgate's and Helicone's name for it."""
    rid = request_id.encode()
    return [(b"lockgate-request-id", rid), (b"helicone-id", rid)]


# What Codex sends on every model call (codex-protocol.md F3, F8): the thread, the turn (inside the
# turn-metadata JSON), and for sub-agents (the guardian) its kind and parent thread. The same names,
# with `session_id`/`thread_id` spelt with underscores, are the keys of `client_metadata` on WebSocket frames.
CODEX_HEADERS = frozenset({b"session-id", b"thread-id", b"x-codex-turn-metadata", b"x-openai-subagent",
                           b"x-codex-parent-thread-id", b"originator"})


def codex_session(meta: RequestMeta, found: Mapping[str, str]) -> None:
    """Make a Codex thread a lockgate session: id = the root thread, path = sub-agent and turn.

    `found` holds the Codex headers by lower-case name. Does nothing when the client set its own
    session (Helicone-Session-Id / lockgate-session-id win) or sent no thread id.
    """
    if meta.session_id is not None or meta.session_path is not None:
        return
    turn: dict[str, object] = {}
    raw = found.get("x-codex-turn-metadata")
    if raw:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            turn = parsed
    thread = found.get("thread-id") or found.get("thread_id") or _text(turn.get("thread_id"))
    # The guardian runs in its own thread; session-id (and the parent header) name the user's thread.
    root = (found.get("session-id") or found.get("session_id") or found.get("x-codex-parent-thread-id")
            or _text(turn.get("session_id")) or thread)
    if not root:
        return
    meta.session_id = root
    parts: list[str] = []
    subagent = found.get("x-openai-subagent") or _text(turn.get("subagent_kind"))
    if subagent or (thread and thread != root):
        parts.append(f"{_segment(subagent or 'agent')}-{_segment(thread or '')}")
    turn_id = _text(turn.get("turn_id"))
    kind = _text(turn.get("request_kind"))
    if turn_id:
        parts.append(f"turn-{_segment(turn_id)}")
    elif kind == "prewarm":
        parts.append("prewarm")
    if kind == "compaction":
        parts.append("compaction")
    meta.session_path = "/" + "/".join(parts) if parts else None
    if meta.session_name is None:
        meta.session_name = found.get("originator") or "codex"


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _segment(value: str) -> str:
    """A path segment: no slashes (they would nest), bounded length."""
    return value.replace("/", "_")[:80]
