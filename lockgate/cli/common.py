"""What every command needs: the settings and the store, with errors a person can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from pydantic import ValidationError

from lockgate.config import Settings, load_settings
from lockgate.store.db import migrate, open_engine

__all__ = ["open_store", "settings_from"]


def settings_from(ctx: click.Context, cli_overrides: dict[str, Any] | None = None) -> Settings:
    path: Path | None = ctx.find_root().obj.get("config")
    try:
        return load_settings(path, cli=cli_overrides)
    except FileNotFoundError as exc:
        raise click.ClickException(f"config file not found: {exc.filename}") from None
    except ValidationError as exc:
        lines = "\n".join(f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.ClickException(f"invalid settings (run `lockgate config check` for lines):\n{lines}") from None
    except ValueError as exc:  # tomllib errors
        raise click.ClickException(f"cannot read config: {exc}") from None


def open_store(settings: Settings) -> sa.Engine:
    engine = open_engine(settings.database_url)
    migrate(engine)
    return engine
