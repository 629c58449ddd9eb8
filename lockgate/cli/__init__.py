"""The `lockgate` command: one click group, one module per command family."""

from __future__ import annotations

from pathlib import Path

import click

from lockgate.cli.config_cmd import config_group
from lockgate.cli.export import export
from lockgate.cli.keys import keys_group
from lockgate.cli.logs import logs_group
from lockgate.cli.serve import serve
from lockgate.cli.sessions import sessions_group
from lockgate.cli.stats import stats

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="LOCKGATE_CONFIG",
              help="Path to lockgate.toml (default: $LOCKGATE_CONFIG, else ./lockgate.toml if present).")
@click.version_option(package_name="lockgate")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """lockgate: a self-hosted AI gateway with built-in observability."""
    ctx.obj = {"config": config_path}


cli.add_command(serve)
cli.add_command(keys_group)
cli.add_command(logs_group)
cli.add_command(config_group)
cli.add_command(sessions_group)
cli.add_command(export)
cli.add_command(stats)


def main() -> None:
    cli(prog_name="lockgate")
