"""The `lockgate` command: one click group, one module per command family.

Each command's module is imported only when that command runs (`lockgate serve` does not
load the query, export and stats code: a tenth of the gateway's cold start)."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

__all__ = ["cli", "main"]

# command name -> (module, attribute)
_COMMANDS = {
    "serve": ("lockgate.cli.serve", "serve"),
    "keys": ("lockgate.cli.keys", "keys_group"),
    "logs": ("lockgate.cli.logs", "logs_group"),
    "config": ("lockgate.cli.config_cmd", "config_group"),
    "sessions": ("lockgate.cli.sessions", "sessions_group"),
    "export": ("lockgate.cli.export", "export"),
    "stats": ("lockgate.cli.stats", "stats"),
    "codex": ("lockgate.cli.codex", "codex_group"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = _COMMANDS.get(cmd_name)
        if spec is None:
            return None
        command: click.Command = getattr(importlib.import_module(spec[0]), spec[1])
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="LOCKGATE_CONFIG",
              help="Path to lockgate.toml (default: $LOCKGATE_CONFIG, else ./lockgate.toml if present).")
@click.version_option(package_name="lockgate")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """lockgate: a self-hosted AI gateway with built-in observability."""
    ctx.obj = {"config": config_path}


def main() -> None:
    cli(prog_name="lockgate")
