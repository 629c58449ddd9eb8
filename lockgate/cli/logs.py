"""`lockgate logs [filters]|tail|show`: read the request log."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time
from typing import TYPE_CHECKING, Any

import click
import orjson

from lockgate.cli.common import open_store, settings_from
from lockgate.cli.filter_options import cursor_option, filter_from_options, filter_options
from lockgate.store.query import MAX_LIMIT, list_requests
from lockgate.store.requests import get_request

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["logs_group"]

_FOLLOW_WINDOW_S = 900.0
_COLUMNS = ("time", "id", "api", "model", "provider", "status", "ms", "ttft", "in", "out", "cached", "$", "key")


def _row(r: dict[str, Any], with_date: bool = False) -> list[str]:
    def num(v: Any) -> str:
        return "" if v is None else f"{v:.0f}" if isinstance(v, float) else str(v)

    when = dt.datetime.fromtimestamp(r["ts"]).strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    return [when, r["id"], r["api"] or "",
            r["model_resolved"] or r["model_requested"] or "", r["provider"] or "", num(r["status"]),
            num(r["latency_ms"]), num(r["ttft_ms"]), num(r["input_tokens"]), num(r["output_tokens"]),
            num(r["cached_input_tokens"]), "" if r["cost_usd"] is None else f"{r['cost_usd']:.4g}",
            r["key_name"] or ""]


def _table(rows: list[dict[str, Any]], with_date: bool = False) -> Table:
    from rich.table import Table

    table = Table(*_COLUMNS)
    for r in rows:
        table.add_row(*_row(r, with_date), style="red" if (r["status"] or 0) >= 400 else None)
    return table


@click.group("logs", invoke_without_command=True)
@filter_options
@click.option("-n", "--limit", default=50, show_default=True, type=click.IntRange(1, MAX_LIMIT),
              help="Rows per page.")
@click.option("--cursor", help="Continue after the page that printed this cursor.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def logs_group(ctx: click.Context, /, limit: int, cursor: str | None, as_json: bool, **filters: Any) -> None:
    """Read the request log: with no command, list requests matching the filters, newest first.

    The filters mean what they mean in GET /api/requests (docs/api.md)."""
    if ctx.invoked_subcommand is not None:
        return
    flt = filter_from_options(filters)
    position = cursor_option(cursor)
    page = list_requests(open_store(settings_from(ctx)), flt, limit=limit, cursor=position)
    if as_json:
        for r in page.rows:
            click.echo(orjson.dumps(r, default=str, option=orjson.OPT_NON_STR_KEYS).decode())
    else:
        from rich.console import Console

        console = Console() if sys.stdout.isatty() else Console(width=220)
        console.print(_table(page.rows, with_date=True))
    if page.scanned is not None:
        click.echo(f"searched the bodies of {page.scanned} requests", err=True)
    if page.next_cursor:
        click.echo(f"more: --cursor {page.next_cursor}", err=True)


@logs_group.command("tail")
@filter_options
@click.option("-n", "--lines", default=20, show_default=True, type=click.IntRange(1, MAX_LIMIT),
              help="How many recent requests.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new requests as they are logged.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def tail(ctx: click.Context, /, lines: int, follow: bool, as_json: bool, **filters: Any) -> None:
    """Show the latest requests matching the filters, newest last."""
    flt = filter_from_options(filters)
    engine = open_store(settings_from(ctx))
    from rich.console import Console

    # Piped output has no terminal width; keep whole ids readable there.
    console = Console() if sys.stdout.isatty() else Console(width=220)
    rows = list(reversed(list_requests(engine, flt, limit=lines).rows))

    def emit(batch: list[dict[str, Any]]) -> None:
        if as_json:
            for r in batch:
                click.echo(orjson.dumps(r, default=str, option=orjson.OPT_NON_STR_KEYS).decode())
        elif batch:
            console.print(_table(batch))

    emit(rows)
    # Rows arrive out of start-time order (long streams, batches from other workers), so
    # follow a window of recent start times (its newest rows) and skip ids already shown.
    seen = {r["id"] for r in rows}
    last = rows[-1]["ts"] if rows else time.time()
    while follow:
        time.sleep(1.0)
        window = dataclasses.replace(flt, since=max(flt.since or 0.0, last - _FOLLOW_WINDOW_S))
        page = list_requests(engine, window, limit=MAX_LIMIT)
        new = [r for r in reversed(page.rows) if r["id"] not in seen]
        if new:
            emit(new)
            seen.update(r["id"] for r in new)
            last = max(last, new[-1]["ts"])


@logs_group.command("show")
@click.argument("request_id")
@click.pass_context
def show(ctx: click.Context, request_id: str) -> None:
    """Print one request with its bodies, as JSON."""
    engine = open_store(settings_from(ctx))
    row = get_request(engine, request_id)
    if row is None:
        raise click.ClickException(f"no request {request_id}")
    click.echo(orjson.dumps(row, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode())
