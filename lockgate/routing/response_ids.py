"""Which provider served a response id, so `/v1/responses/{id}` calls go back to it."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["ResponseDirectory"]


class ResponseDirectory:
    """A bounded in-memory map; the request log is the fallback for older ids."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._capacity = capacity
        self._map: OrderedDict[str, str] = OrderedDict()

    def remember(self, response_id: str, provider: str) -> None:
        self._map[response_id] = provider
        if len(self._map) > self._capacity:
            self._map.popitem(last=False)

    def get(self, response_id: str) -> str | None:
        return self._map.get(response_id)
