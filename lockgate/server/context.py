"""What the request handlers need from the gateway, as a Protocol (server/ never imports app)."""

from __future__ import annotations

from typing import Protocol

import aiohttp

from lockgate.config import Settings
from lockgate.observe.record import LogRecord
from lockgate.providers.base import Provider
from lockgate.routing.resolve import Router
from lockgate.routing.response_ids import ResponseDirectory
from lockgate.store.keys import KeyRecord

__all__ = ["GatewayContext", "Sink"]


class Sink(Protocol):
    def submit(self, record: LogRecord) -> None: ...


class GatewayContext(Protocol):
    settings: Settings
    router: Router
    providers: dict[str, Provider]
    responses: ResponseDirectory

    @property
    def session(self) -> aiohttp.ClientSession: ...

    @property
    def sink(self) -> Sink: ...

    @property
    def ready(self) -> bool: ...

    async def authenticate(self, authorization: str | None, x_api_key: str | None) -> KeyRecord | None:
        """The caller's key record; None when auth is off. Raises Unauthorized."""
        ...

    async def provider_for_response(self, response_id: str) -> Provider:
        """The provider that served a stored response (for GET/DELETE /v1/responses/{id})."""
        ...
