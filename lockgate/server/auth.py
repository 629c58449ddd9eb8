"""Gateway keys: a header → a key record, from an in-memory map of hashes.

The map is reloaded from the store in the background (revocations take effect within
`server.key_refresh_interval`), and at most once a second on a miss, so that a key
created a moment ago works at once without letting unknown keys hammer the database.
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

    async def reload(self) -> None:
        async with self._reload_lock:
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
            raise Unauthorized("Missing gateway key. Send it as `Authorization: Bearer <key>`.")
        digest = hash_key(secret)
        rec = self._keys.get(digest)
        if rec is None and time.monotonic() - self._loaded_at > _MISS_RELOAD_GAP:
            await self.reload()
            rec = self._keys.get(digest)
        if rec is None:
            raise Unauthorized(
                f"Incorrect gateway key provided: {secret[:6]}…. Create one with `lockgate keys create`.")
        return rec
