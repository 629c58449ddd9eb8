"""`lockgate sessions [show ID]`: sessions (Helicone-Session-Id) and their trees by path."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

import click
import orjson

from lockgate.cli.common import open_store, settings_from
from lockgate.cli.filter_options import cursor_option
from lockgate.store.filters import FilterError, parse_time
from lockgate.store.query import MAX_LIMIT
from lockgate.store.query_groups import SessionFilter, list_sessions, session_tree

if TYPE_CHECKING:
    from rich.console import Console
    from rich.tree import Tree

__all__ = ["sessions_group"]


def _console() -> Console:
    from rich.console import Console

    # Piped output has no terminal width; keep whole ids readable there.
    return Console() if sys.stdout.isatty() else Console(width=200)


def _when(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _cost(v: float | None) -> str:
    return "" if v is None else f"${v:.4g}"


def _time_option(value: str | None, param: str) -> float | None:
    try:
        return parse_time(value, param) if value else None
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{param}") from None


@click.group("sessions", invoke_without_command=True)
@click.option("--from", "since", metavar="TIME", help="Sessions active at or after (epoch, ISO 8601 or 2h, 7d).")
@click.option("--to", "until", metavar="TIME", help="Sessions active before.")
@click.option("--user", "users", multiple=True, help="Sessions with requests from this Helicone-User-Id.")
@click.option("--name", "names", multiple=True, help="Helicone-Session-Name, exact.")
@click.option("-n", "--limit", default=50, show_default=True, type=click.IntRange(1, MAX_LIMIT))
@click.option("--cursor", help="Continue after the page that printed this cursor.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def sessions_group(ctx: click.Context, since: str | None, until: str | None, users: tuple[str, ...],
                   names: tuple[str, ...], limit: int, cursor: str | None, as_json: bool) -> None:
    """List sessions, most recently active first (`sessions show ID` prints one as a tree)."""
    if ctx.invoked_subcommand is not None:
        return
    flt = SessionFilter(since=_time_option(since, "from"), until=_time_option(until, "to"), users=users,
                        names=names)
    position = cursor_option(cursor)
    page = list_sessions(open_store(settings_from(ctx)), flt, limit=limit, cursor=position)
    if as_json:
        for r in page.rows:
            click.echo(orjson.dumps(r).decode())
    else:
        from rich.table import Table

        table = Table("session", "name", "user", "first", "last", "requests", "errors", "tokens", "cost", "s")
        for r in page.rows:
            table.add_row(r["id"], r["name"] or "", r["user_id"] or "", _when(r["first_ts"]), _when(r["last_ts"]),
                          str(r["requests"]), str(r["errors"]), str(r["total_tokens"]), _cost(r["cost_usd"]),
                          f"{r['duration_ms'] / 1000:.1f}", style="red" if r["errors"] else None)
        _console().print(table)
    if page.next_cursor:
        click.echo(f"more: --cursor {page.next_cursor}", err=True)


def _label(name: str, totals: dict[str, Any]) -> str:
    from rich.markup import escape

    return (f"[bold]{escape(name)}[/]  {totals['requests']} req, {totals['total_tokens']} tok, "
            f"{_cost(totals['cost_usd']) or 'cost ?'}, {totals['duration_ms'] / 1000:.2f} s"
            + (f", [red]{totals['errors']} errors[/]" if totals["errors"] else ""))


def _grow(tree: Tree, node: dict[str, Any]) -> None:
    from rich.markup import escape

    for r in node["requests"]:
        model = r["model_resolved"] or r["model_requested"] or ""
        style = "red" if r["status"] >= 400 else "dim"
        tokens = (r["total_tokens"] if r["total_tokens"] is not None
                  else (r["input_tokens"] or 0) + (r["output_tokens"] or 0))
        tree.add(f"[{style}]{escape(r['id'])}[/] {_when(r['ts'])} {escape(model)} {r['status']} "
                 f"{(r['latency_ms'] or 0):.0f} ms {tokens} tok {_cost(r['cost_usd'])}".rstrip())
    for child in node["children"]:
        _grow(tree.add(_label(child["name"], child["total"])), child)


@sessions_group.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="The tree as JSON (as GET /api/sessions/{id}).")
@click.pass_context
def show(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """Print one session as a tree by Helicone-Session-Path, with totals per subtree."""
    tree = session_tree(open_store(settings_from(ctx)), session_id)
    if tree is None:
        raise click.ClickException(f"no requests logged for session {session_id}")
    if as_json:
        click.echo(orjson.dumps(tree, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.tree import Tree

    title = f"session {session_id}" + (f" ({tree['name']})" if tree["name"] else "")
    root = Tree(_label(title, tree["root"]["total"]))
    _grow(root, tree["root"])
    console = _console()
    console.print(root)
    if tree["truncated"]:
        console.print("[yellow]only the first 10,000 requests are shown[/]")
