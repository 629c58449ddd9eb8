"""`lockgate keys create|list|revoke`: gateway keys, shown once, stored hashed."""

from __future__ import annotations

import datetime as dt

import click

from lockgate.cli.common import open_store, settings_from
from lockgate.store import keys as key_store

__all__ = ["keys_group"]


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


@click.group("keys")
def keys_group() -> None:
    """Create, list and revoke gateway keys."""


@keys_group.command("create")
@click.option("--name", required=True, help="A label for the key (who or what uses it).")
@click.pass_context
def create(ctx: click.Context, name: str) -> None:
    """Create a key and print it once; only its hash is stored."""
    engine = open_store(settings_from(ctx))
    rec, secret = key_store.create_key(engine, name)
    click.echo(secret)
    click.echo(f"created key {rec.id} ({rec.name}); it is shown only now, store it safely", err=True)


@keys_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked keys.")
@click.pass_context
def list_(ctx: click.Context, show_all: bool) -> None:
    """List keys (prefix only, never the key)."""
    from rich.console import Console
    from rich.table import Table

    engine = open_store(settings_from(ctx))
    table = Table("id", "name", "prefix", "created", "revoked")
    for rec in key_store.list_keys(engine, include_revoked=show_all):
        table.add_row(rec.id, rec.name, rec.prefix + "…", _when(rec.created_at), _when(rec.revoked_at))
    Console().print(table)


@keys_group.command("revoke")
@click.argument("key")
@click.pass_context
def revoke(ctx: click.Context, key: str) -> None:
    """Revoke a key by id or name (takes effect within server.key_refresh_interval)."""
    engine = open_store(settings_from(ctx))
    try:
        rec = key_store.revoke_key(engine, key)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0]) if exc.args else f"no key {key!r}") from None
    click.echo(f"revoked {rec.id} ({rec.name})")
