"""`Helicone-*` and `lockgate-*` request headers → RequestMeta, read once per request."""

from __future__ import annotations

from lockgate.observe.record import RequestMeta

__all__ = ["OWN_PREFIXES", "read_meta"]

OWN_PREFIXES = (b"helicone-", b"lockgate-")
_FIELDS = {"session-id": "session_id", "session-path": "session_path", "session-name": "session_name",
           "user-id": "user_id"}


def read_meta(own: list[tuple[bytes, bytes]]) -> RequestMeta:
    """Build the meta from the headers that carry one of OWN_PREFIXES (names lower-case)."""
    meta = RequestMeta()
    for raw_name, raw_value in own:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("utf-8", "replace")
        if name in ("helicone-auth", "lockgate-auth"):
            continue  # a credential: never stored
        meta.headers[name] = value
        suffix = name.split("-", 1)[1]
        if suffix in _FIELDS:
            setattr(meta, _FIELDS[suffix], value)
        elif suffix.startswith("property-"):
            meta.properties[suffix[len("property-"):]] = value
    return meta
