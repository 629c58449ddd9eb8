"""`lockgate serve`: start the gateway with uvicorn (raw ASGI, uvloop, httptools)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click
import uvicorn

from lockgate.cli.common import open_store, settings_from
from lockgate.config import Settings
from lockgate.memory import limit_arenas
from lockgate.store import keys as key_store

__all__ = ["serve"]

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client in each worker


def _first_key(settings: Settings) -> None:
    """On a fresh install, make one key so the gateway is usable right away."""
    if settings.server.auth != "keys":
        return
    engine = open_store(settings)
    try:
        if key_store.list_keys(engine, include_revoked=True):
            return
        rec, secret = key_store.create_key(engine, "default")
    finally:
        engine.dispose()
    click.echo(f"lockgate: created your first gateway key '{rec.name}' (shown only now): {secret}", err=True)


def _metrics_dir(settings: Settings) -> Path:
    """The directory where worker processes keep their Prometheus counters (prometheus-client's
    multiprocess mode), emptied first: files from an earlier run would be summed in."""
    path = Path(os.environ.get(_MULTIPROC_ENV) or settings.data_dir / "prometheus")
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink(missing_ok=True)
    return path


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    from lockgate.server.http_protocol import HeadCoalescingProtocol
    from lockgate.server.ws_protocol import DrainingWebSocketProtocol

    return {"host": settings.server.host, "port": settings.server.port, "loop": "uvloop",
            "http": HeadCoalescingProtocol, "lifespan": "on",
            # Upgrades are always taken, so that with server.websockets off the app can answer 426.
            "ws": DrainingWebSocketProtocol, "ws_max_size": settings.server.max_body_bytes,
            "ws_per_message_deflate": settings.server.websocket_compression,
            "access_log": False, "server_header": False, "proxy_headers": False,
            "timeout_graceful_shutdown": settings.server.shutdown_timeout, "log_level": "info"}


@click.command()
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default 8080).")
@click.option("--workers", type=int, help="Worker processes sharing the port (default 1).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Start the gateway."""
    overrides = {k: v for k, v in {"server.host": host, "server.port": port, "server.workers": workers}.items()
                 if v is not None}
    settings = settings_from(ctx, overrides)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not settings.providers:
        click.echo("lockgate: no providers configured: set OPENAI_API_KEY (or another provider key) or add "
                   "[providers.NAME] to lockgate.toml", err=True)
    limit_arenas()
    _first_key(settings)
    click.echo(f"lockgate: listening on http://{settings.server.host}:{settings.server.port}/v1 "
               f"(log: {settings.database_url if settings.log.enabled else 'off'})", err=True)
    opts = _uvicorn_options(settings)
    if settings.server.workers > 1:
        # Worker processes rebuild the settings from the same file and env.
        if settings.source:
            os.environ["LOCKGATE_CONFIG"] = settings.source
        os.environ["LOCKGATE_SERVER_HOST"] = settings.server.host
        os.environ["LOCKGATE_SERVER_PORT"] = str(settings.server.port)
        if settings.telemetry.metrics:
            os.environ[_MULTIPROC_ENV] = str(_metrics_dir(settings))
        uvicorn.run("lockgate.app:create_app", factory=True, workers=settings.server.workers, **opts)
        return
    # One process has one registry; a multiprocess dir left in the environment would only add stale files.
    os.environ.pop(_MULTIPROC_ENV, None)
    from lockgate.app import Gateway

    uvicorn.run(Gateway(settings).app, **opts)
