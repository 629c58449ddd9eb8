"""Gateway keys: a header → a key record, from an in-memory map of hashes.

The map is reloaded from the store in the background (revocations take effect within
`server.key_refresh_interval`), and on a miss, at most once a second for all misses
together, so that a key created a moment ago works without letting unknown keys hammer
the database (an unknown key waits up to a second for its 401).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from lockgate.errors import Unauthorized
from lockgate.store.keys import KeyRecord, hash_key

__all__ = ["KeyCache", "extract_key"]

_MISS_RELOAD_GAP = 1.0
# How to get a working key, in the message the client shows (Codex prints it on a 401).
_FIX = ("Create a key with `lockgate keys create --name <who>`; for Codex run `lockgate codex setup`, "
        "which stores one in $CODEX_HOME/lockgate.env as LOCKGATE_API_KEY.")


def extract_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return x_api_key.strip() if x_api_key else None


class KeyCache:
    def __init__(self, load: Callable[[], dict[str, KeyRecord]], refresh_interval: float) -> None:
        self._load = load
        self._interval = refresh_interval
        self._keys: dict[str, KeyRecord] = {}
        self._loaded_at = 0.0
        self._reload_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    def count(self) -> int:
        return len(self._keys)

    async def reload(self, *, if_loaded_at: float | None = None) -> None:
        """Load the keys again; with `if_loaded_at`, only if nobody reloaded since then."""
        async with self._reload_lock:
            if if_loaded_at is not None and self._loaded_at > if_loaded_at:
                return
            self._keys = await asyncio.get_running_loop().run_in_executor(None, self._load)
            self._loaded_at = time.monotonic()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            # The store may be briefly unavailable; keep the last good map.
            with contextlib.suppress(Exception):
                await self.reload()

    async def authenticate(self, secret: str | None) -> KeyRecord:
        if not secret:
            raise Unauthorized(f"Missing gateway key. Send it as `Authorization: Bearer <key>`. {_FIX}")
        digest = hash_key(secret)
        rec = self._keys.get(digest)
        if rec is None:
            # A key created a moment ago: reload, but at most once per gap for all misses together.
            seen = self._loaded_at
            wait = seen + _MISS_RELOAD_GAP - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.reload(if_loaded_at=seen)
            rec = self._keys.get(digest)
        if rec is None:
            raise Unauthorized(
                f"Incorrect gateway key provided: {secret[:6]}… (unknown or revoked). {_FIX}")
        return rec
