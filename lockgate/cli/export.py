"""`lockgate export --format csv|jsonl [--output FILE]`: one row per logged request, streamed."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import click
import orjson

from lockgate.cli.common import open_store, settings_from
from lockgate.cli.filter_options import filter_from_options, filter_options
from lockgate.store.query import count_requests, iter_requests

__all__ = ["EXPORT_FIELDS", "export", "export_row"]

EXPORT_FIELDS = (
    "id", "ts", "time", "session_id", "session_path", "session_name", "user_id", "properties", "key_id", "key_name",
    "api", "stream", "model_requested", "model_resolved", "priced_model", "provider", "status", "error_type",
    "input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens",
    "reasoning_tokens", "total_tokens", "cost_usd", "cost_status", "latency_ms", "ttft_ms",
)


def export_row(row: dict[str, Any]) -> dict[str, Any]:
    """The export's view of a log row (`time` is ts as ISO 8601 UTC)."""
    out = {name: row.get(name) for name in EXPORT_FIELDS}
    out["time"] = dt.datetime.fromtimestamp(row["ts"], dt.UTC).isoformat(timespec="milliseconds")
    out["properties"] = row.get("properties") or {}
    return out


def _write_jsonl(rows: Iterator[dict[str, Any]], out: IO[str]) -> Iterator[None]:
    for row in rows:
        out.write(orjson.dumps(export_row(row)).decode())
        out.write("\n")
        yield


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> Iterator[None]:
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS)
    for row in rows:
        values = export_row(row)
        # Properties as one JSON cell; None as an empty cell.
        values["properties"] = orjson.dumps(values["properties"], option=orjson.OPT_SORT_KEYS).decode()
        writer.writerow([_cell(values[k]) for k in EXPORT_FIELDS])
        yield


@click.command("export")
@filter_options
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (with a progress bar on stderr) instead of stdout.")
@click.pass_context
def export(ctx: click.Context, /, fmt: str, output: Path | None, **filters: Any) -> None:
    """Export logged requests, newest first, one row each (filters as for `lockgate logs`).

    Rows are read from the database a thousand at a time, so any size of log exports in
    constant memory."""
    flt = filter_from_options(filters)
    engine = open_store(settings_from(ctx))
    rows = iter_requests(engine, flt)
    write: Callable[[Iterator[dict[str, Any]], IO[str]], Iterator[None]] = \
        _write_csv if fmt == "csv" else _write_jsonl
    with contextlib.ExitStack() as stack:
        if output is None:
            out: IO[str] = sys.stdout
            for _ in write(rows, out):
                pass
            return
        out = stack.enter_context(output.open("w", encoding="utf-8", newline=""))
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        # A body search can match fewer rows than the count: the bar then just ends early.
        total = count_requests(engine, flt)
        progress = stack.enter_context(Progress(
            TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=Console(file=sys.stderr), transient=False))
        task = progress.add_task("export", total=total)
        done = 0
        for _ in write(rows, out):
            done += 1
            if done % 1000 == 0:
                progress.update(task, completed=done)
        progress.update(task, completed=done, total=done)
    click.echo(f"{done} requests written to {output}", err=True)
