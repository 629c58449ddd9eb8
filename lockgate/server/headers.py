"""`Helicone-*` and `lockgate-*` request headers → RequestMeta, read once per request."""

from __future__ import annotations

import re

from lockgate.observe.record import RequestMeta

__all__ = ["AUTH_HEADERS", "OWN_PREFIXES", "client_request_id", "id_headers", "read_meta"]

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
