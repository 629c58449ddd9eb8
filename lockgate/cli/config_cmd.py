"""`lockgate config check`: every mistake at once, with the line that is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lockgate.config import check_config, load_settings

__all__ = ["config_group"]


@click.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate lockgate.toml and LOCKGATE_* env vars; exit 1 on any problem."""
    path: Path | None = ctx.find_root().obj.get("config")
    problems = check_config(path)
    if problems:
        for p in problems:
            click.echo(f"error: {p}", err=True)
        click.echo(f"{len(problems)} problem(s) found", err=True)
        sys.exit(1)
    s = load_settings(path)
    click.echo(f"config OK ({s.source or 'no file, defaults + env'})")
    click.echo(f"  listen    http://{s.server.host}:{s.server.port}  auth={s.server.auth}")
    click.echo(f"  database  {s.database_url}")
    tel = s.telemetry
    if tel.metrics:
        click.echo(f"  metrics   GET /metrics  ({'public' if tel.metrics_public else 'gateway key required'})")
    if tel.otlp_endpoint:
        from lockgate.observe.traces import traces_url

        click.echo(f"  traces    OTLP/HTTP -> {traces_url(tel.otlp_endpoint)}  sample={tel.trace_sample_ratio:g}")
    r = s.retention
    if r.bodies_after_days or r.rows_after_days:
        click.echo(f"  retention bodies after {r.bodies_after_days or 'never'} d, "
                   f"rows after {r.rows_after_days or 'never'} d")
    for name, prov in s.providers.items():
        click.echo(f"  provider  {name}: {prov.base_url}  apis={','.join(prov.apis)}")
    for alias, target in s.aliases.items():
        click.echo(f"  alias     {alias} -> {target}")
