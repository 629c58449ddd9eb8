"""The request filters as click options, shared by `logs` and `export` (same meaning as the API's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from lockgate.store.filters import Cursor, FilterError, RequestFilter, build_request_filter, decode_cursor

__all__ = ["FILTER_KEYS", "filter_from_options", "filter_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option("--from", "since", metavar="TIME",
                 help="Requests started at or after: epoch seconds, ISO 8601 (UTC) or an age (15m, 2h, 7d)."),
    click.option("--to", "until", metavar="TIME", help="Requests started before (same formats)."),
    click.option("--model", "models", multiple=True, help="Model sent upstream (repeat for any of several)."),
    click.option("--model-requested", "models_requested", multiple=True, help="Model as the client asked."),
    click.option("--provider", "providers", multiple=True, help="Provider name."),
    click.option("--key", "keys", multiple=True, help="Gateway key id or name."),
    click.option("--user", "users", multiple=True, help="Helicone-User-Id."),
    click.option("--session", "sessions", multiple=True, help="Helicone-Session-Id."),
    click.option("--property", "-p", "properties", multiple=True, metavar="NAME[:VALUE]",
                 help="Helicone-Property-NAME equal to VALUE (or set at all); repeat to require several."),
    click.option("--status", help="Code (429), class (4xx, 5xx), error, ok; comma-separate for any of several."),
    click.option("--min-latency", "min_latency_ms", type=float, metavar="MS", help="Took at least MS ms."),
    click.option("--min-cost", "min_cost_usd", type=float, metavar="USD", help="Cost at least USD dollars."),
    click.option("--search", "-q", "text", metavar="TEXT", help="Text in the request or response body."),
)
FILTER_KEYS = ("since", "until", "models", "models_requested", "providers", "keys", "users", "sessions",
               "properties", "status", "min_latency_ms", "min_cost_usd", "text")


def filter_options(fn: F) -> F:
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def filter_from_options(values: dict[str, Any]) -> RequestFilter:
    """Pops the filter options out of a command's keyword arguments."""
    args = {k: values.pop(k) for k in FILTER_KEYS}
    try:
        return build_request_filter(**args)
    except FilterError as exc:
        hint = _HINTS.get(exc.param, f"--{exc.param}")
        raise click.BadParameter(str(exc), param_hint=hint) from None


_HINTS = {"min_latency_ms": "--min-latency", "min_cost": "--min-cost"}


def cursor_option(cursor: str | None) -> Cursor | None:
    """A `--cursor` value from an earlier page, or None; a bad one is a usage error."""
    try:
        return decode_cursor(cursor) if cursor else None
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--cursor") from None
