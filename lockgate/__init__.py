"""lockgate: a self-hosted AI gateway with built-in observability, made for coding agents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockgate.errors import ClientError, GatewayError, UpstreamError

if TYPE_CHECKING:
    from lockgate.app import Gateway
    from lockgate.config import Settings, load_settings

__all__ = ["ClientError", "Gateway", "GatewayError", "Settings", "UpstreamError", "__version__", "load_settings"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `lockgate keys list` does not load the server stack.
    if name == "Gateway":
        from lockgate.app import Gateway

        return Gateway
    if name in ("Settings", "load_settings"):
        from lockgate import config

        return getattr(config, name)
    raise AttributeError(name)
