"""Gateway: builds every part from Settings once, and owns startup and shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import aiohttp
import sqlalchemy as sa

from lockgate.api.lazy import LazyApi
from lockgate.api.router import PREFIXES as API_PREFIXES
from lockgate.config import Settings, load_settings
from lockgate.errors import NotFound
from lockgate.observe.cost import Pricer
from lockgate.observe.metrics import GatewayMetrics
from lockgate.observe.record import LogRecord
from lockgate.observe.sink import LogSink, Observer, SinkOptions
from lockgate.observe.usage import apply_usage
from lockgate.providers.base import Provider, build_providers
from lockgate.routing.resolve import Router
from lockgate.routing.response_ids import ResponseDirectory
from lockgate.server.asgi import GatewayApp
from lockgate.server.auth import KeyCache, extract_key
from lockgate.server.metrics_route import MetricsEndpoint
from lockgate.store import keys as key_store
from lockgate.store.db import migrate, open_engine
from lockgate.store.maintenance import Maintenance
from lockgate.store.requests import provider_for_response
from lockgate.store.retention import Retention
from lockgate.upstream import open_session

if TYPE_CHECKING:
    from lockgate.observe.traces import Tracing

__all__ = ["Gateway", "create_app"]

log = logging.getLogger("lockgate")


class _NullSink:
    """Logging switched off (log.enabled = false)."""

    def submit(self, record: LogRecord) -> None:
        pass


class Gateway:
    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.router = Router(settings)
        self.providers: dict[str, Provider] = build_providers(settings.providers, env)
        self.responses = ResponseDirectory()
        self.engine = open_engine(settings.database_url)
        opts = settings.log
        # Metrics and traces are LogSink observers: built from each committed batch in the
        # writer thread, never on the request path.
        tel = settings.telemetry
        observers: list[Observer] = []
        self.metrics: GatewayMetrics | None = None
        if tel.metrics:
            self.metrics = GatewayMetrics((lambda: self._log_sink.stats) if opts.enabled else None)
            observers.append(self.metrics.observe)
        self.tracing: Tracing | None = None
        if tel.otlp_endpoint:
            from lockgate.observe.traces import Tracing  # OpenTelemetry only when it is used

            self.tracing = Tracing(tel, settings.providers)
            observers.append(self.tracing.observe)
        self._log_sink = LogSink(self.engine, SinkOptions(
            store_bodies=opts.bodies, max_body_bytes=opts.max_body_bytes, queue_size=opts.queue_size,
            queue_max_bytes=opts.queue_max_bytes, batch_rows=opts.batch_rows, batch_bytes=opts.batch_bytes,
            flush_interval=opts.flush_interval, spool_path=settings.spool_path),
            enrich=(apply_usage, Pricer.from_settings(settings)), observers=observers)
        self._metrics_sync: asyncio.Task[None] | None = None
        self._sink: LogSink | _NullSink = self._log_sink if opts.enabled else _NullSink()
        self._keys = KeyCache(lambda: key_store.load_active_keys(self.engine),
                              settings.server.key_refresh_interval)
        self._session: aiohttp.ClientSession | None = None
        self._maintenance = _maintenance(self.engine, settings)
        self._ready = False
        api = LazyApi(self)
        metrics_route = MetricsEndpoint(self, self.metrics, tel.metrics_public) if self.metrics else None
        self.app = GatewayApp(self, self.startup, self.shutdown, api=api, api_prefixes=API_PREFIXES,
                              metrics=metrics_route)

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "Gateway.startup() has not run"
        return self._session

    @property
    def sink(self) -> LogSink | _NullSink:
        return self._sink

    @property
    def log_sink(self) -> LogSink:
        return self._log_sink

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def log_enabled(self) -> bool:
        return self.settings.log.enabled

    def flush_log(self, timeout: float) -> bool:
        return self._log_sink.flush(timeout) if self.settings.log.enabled else True

    def submit_log(self, record: LogRecord) -> None:
        self._sink.submit(record)

    async def startup(self) -> None:
        # The log writer thread shares the GIL with the event loop; a short switch interval
        # keeps its batches from holding requests back for the default 5 ms.
        sys.setswitchinterval(0.0005)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, migrate, self.engine)
        if self.settings.log.enabled:
            self._log_sink.start()
            self._maintenance.start()
        if self.metrics is not None and self.metrics.multiprocess:
            self._metrics_sync = asyncio.create_task(self.metrics.sync_forever())
        if self.settings.server.auth == "keys":
            await self._keys.start()
        self._session = open_session(self.settings.upstream)
        self._ready = True

    async def shutdown(self) -> None:
        self._ready = False
        await self._keys.stop()
        if self._session is not None:
            await self._session.close()
        loop = asyncio.get_running_loop()
        if self.settings.log.enabled:
            await loop.run_in_executor(None, self._maintenance.stop)
            await loop.run_in_executor(None, self._log_sink.close, max(self.settings.server.shutdown_timeout, 5.0))
        if self._metrics_sync is not None:
            self._metrics_sync.cancel()
        if self.metrics is not None:
            self.metrics.close()
        if self.tracing is not None:
            await loop.run_in_executor(None, self.tracing.close)  # exports the spans still queued
        self.engine.dispose()

    async def authenticate(self, authorization: str | None, x_api_key: str | None) -> key_store.KeyRecord | None:
        if self.settings.server.auth == "none":
            return None
        return await self._keys.authenticate(extract_key(authorization, x_api_key))

    async def provider_for_response(self, response_id: str) -> Provider:
        name = self.responses.get(response_id)
        if name is None and self.settings.log.enabled:
            name = await asyncio.get_running_loop().run_in_executor(
                None, provider_for_response, self.engine, response_id)
        if name is not None and name in self.providers:
            return self.providers[name]
        for prov in sorted(self.providers.values(), key=lambda p: p.name != "openai"):
            if "responses" in prov.apis:
                return prov
        raise NotFound(f"No provider serves the Responses API, so response `{response_id}` cannot be found.")


def _maintenance(engine: sa.Engine, settings: Settings) -> Maintenance:
    """Stats rollup folding, and retention when configured."""
    r = settings.retention
    return Maintenance(engine, Retention(engine, bodies_after_days=r.bodies_after_days,
                                         rows_after_days=r.rows_after_days, batch_rows=r.batch_rows, pause=r.pause),
                       retention_interval=r.interval, fold_interval=settings.stats.fold_interval)


def create_app() -> GatewayApp:
    """ASGI factory for `uvicorn --factory` and worker processes (reads $LOCKGATE_CONFIG and env)."""
    path = os.environ.get("LOCKGATE_CONFIG")
    from pathlib import Path

    return Gateway(load_settings(Path(path) if path else None)).app
