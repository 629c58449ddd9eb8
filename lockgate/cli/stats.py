"""`lockgate stats`: the numbers of `GET /api/stats`, as a table (or JSON)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click
import msgspec

from lockgate.cli.common import open_store, settings_from
from lockgate.store.filters import FilterError, parse_property_value, parse_time
from lockgate.store.stats import BUCKETS, StatsQuery, StatsResponse, StatsRow, query_stats

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["stats"]


def _num(v: float | None, digits: int = 0) -> str:
    return "" if v is None else f"{v:,.{digits}f}"


def _table(result: StatsResponse) -> Table:
    from rich.table import Table

    first = ([result.bucket or "bucket"] if result.bucket else []) + ([result.group_by] if result.group_by else [])
    cols = [*first, "requests", "errors", "err %", "input", "output", "cached", "reasoning", "cost $", "p50 ms",
            "p95 ms", "p99 ms", "ttft p50", "ttft p95"]
    table = Table(*cols, caption=f"percentiles within {result.percentile_error:.1%}; "
                                 f"{result.groups} group(s){', cut to the largest' if result.truncated else ''}")

    def cells(r: StatsRow) -> list[str]:
        lead = ([r.bucket.replace("T", " ").removesuffix(":00Z") if r.bucket else ""] if result.bucket else [])
        lead += ([r.group if r.group is not None else "(none)"] if result.group_by else [])
        return [*lead, f"{r.requests:,}", f"{r.errors:,}", f"{r.error_rate * 100:.2f}", f"{r.tokens.input:,}",
                f"{r.tokens.output:,}", f"{r.tokens.cached_input:,}", f"{r.tokens.reasoning:,}",
                f"{r.cost_usd:,.2f}", _num(r.latency_ms.p50), _num(r.latency_ms.p95), _num(r.latency_ms.p99),
                _num(r.ttft_ms.p50), _num(r.ttft_ms.p95)]

    for r in result.rows:
        table.add_row(*cells(r))
    if result.group_by or result.bucket:
        table.add_section()
        table.add_row(*(["total"] + [""] * (len(first) - 1)), *cells(result.total)[len(first):], style="bold")
    return table


@click.command("stats")
@click.option("--from", "--since", "since", metavar="TIME",
              help="Start: an age (7d, 24h, 90m), epoch seconds or ISO 8601 (default: all).")
@click.option("--to", "--until", "until", metavar="TIME", help="End, exclusive, same forms (default: now and later).")
@click.option("-g", "--group-by", help="model, provider, key, user or property:NAME.")
@click.option("-b", "--bucket", type=click.Choice(list(BUCKETS)), help="One row per time bucket (UTC).")
@click.option("--model", multiple=True, help="Only this model (repeatable).")
@click.option("--provider", multiple=True, help="Only this provider (repeatable).")
@click.option("--key", multiple=True, help="Only this gateway key id (repeatable).")
@click.option("--user", multiple=True, help="Only this user id (repeatable).")
@click.option("--property", "properties", multiple=True, metavar="NAME:VALUE",
              help="Only requests with this property value (repeatable).")
@click.option("--limit", default=50, show_default=True, help="At most this many groups (the largest).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")
@click.pass_context
def stats(ctx: click.Context, since: str | None, until: str | None, group_by: str | None, bucket: str | None,
          model: tuple[str, ...], provider: tuple[str, ...], key: tuple[str, ...], user: tuple[str, ...],
          properties: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Request counts, tokens, cost, errors, latency and TTFT percentiles."""
    now = time.time()
    try:
        props = tuple(parse_property_value(p, "--property") for p in properties)
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--property") from None
    if group_by and group_by.startswith("property:"):
        group_by = "property:" + group_by.split(":", 1)[1].lower()
    try:
        query = StatsQuery(start=parse_time(since, "--from", now) if since else None,
                           end=parse_time(until, "--to", now) if until else None, group_by=group_by, bucket=bucket,
                           models=model, providers=provider, keys=key, users=user, properties=props,
                           limit=limit)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = query_stats(open_store(settings_from(ctx)), query)
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(result)).decode())
        return
    from rich.console import Console

    (Console() if sys.stdout.isatty() else Console(width=200)).print(_table(result))
