"""`lockgate codex setup` points the Codex CLI at this gateway; `lockgate codex [args…]` runs Codex so.

Codex 0.169 reads a custom provider from `$CODEX_HOME/config.toml` (`[model_providers.lockgate]`) and
a profile from `$CODEX_HOME/<profile>.config.toml` (selected with `codex -p <profile>`; a legacy
`[profiles.<profile>]` table in config.toml makes Codex refuse `-p`). The gateway key is kept out of
config.toml, in `$CODEX_HOME/lockgate.env` (mode 0600), which `lockgate codex` loads and a shell can
source; the provider's `env_key` names the variable it sets.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Any

import click
import tomlkit
from tomlkit.container import Container
from tomlkit.items import Table

from lockgate.cli.common import open_store, settings_from
from lockgate.config import Settings

__all__ = ["codex_group"]

PROVIDER = "lockgate"
ENV_KEY = "LOCKGATE_API_KEY"
KEY_FILE = "lockgate.env"
DEFAULT_PROFILE = "lockgate"


def codex_home(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit.expanduser()
    env = os.environ.get("CODEX_HOME")
    return Path(env).expanduser() if env else Path.home() / ".codex"


def default_base_url(settings: Settings) -> str:
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):  # a wildcard bind: reach it over loopback
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}/v1"


class _CodexGroup(click.Group):
    """`setup` is a subcommand; anything else is handed to the `codex` program unchanged."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                               list[str]]:
        if args and args[0] in self.commands and args[0] != "run":
            return super().resolve_command(ctx, args)
        return "run", self.commands["run"], args


@click.group("codex", cls=_CodexGroup, invoke_without_command=True,
             context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                               "allow_interspersed_args": False})
@click.pass_context
def codex_group(ctx: click.Context) -> None:
    """Use the Codex CLI through this gateway: `lockgate codex setup`, then `lockgate codex [codex args…]`."""
    if ctx.invoked_subcommand is None:
        _launch([])


@codex_group.command("run", hidden=True, context_settings={"ignore_unknown_options": True,
                                                         "allow_extra_args": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(args: tuple[str, ...]) -> None:
    """Run `codex` with the lockgate profile and key."""
    _launch(list(args))


def _launch(args: list[str]) -> None:
    home = codex_home(None)
    program = shutil.which("codex")
    if program is None:
        raise click.ClickException("`codex` is not on PATH: install it with `npm install -g @openai/codex`")
    env = dict(os.environ)
    if not env.get(ENV_KEY):
        key = read_key_file(home / KEY_FILE)
        if key is None:
            raise click.ClickException(f"no gateway key in {home / KEY_FILE}: run `lockgate codex setup` first")
        env[ENV_KEY] = key
    argv = [program]
    # The caller's own profile wins; otherwise ours, if setup wrote it.
    if not any(a in ("-p", "--profile") or a.startswith("--profile=") for a in args):
        if not (home / f"{DEFAULT_PROFILE}.config.toml").exists():
            raise click.ClickException(f"no {home / (DEFAULT_PROFILE + '.config.toml')}: "
                                       "run `lockgate codex setup` first")
        argv += ["-p", DEFAULT_PROFILE]
    sys.stdout.flush()
    os.execve(program, argv + args, env)  # Codex owns the terminal and signals from here on


@codex_group.command("setup")
@click.option("--model", "-m", default=None, help="The model the profile uses (a name or alias lockgate routes).")
@click.option("--profile", "-p", default=DEFAULT_PROFILE, show_default=True,
              help="Profile name: written to $CODEX_HOME/<profile>.config.toml, used as `codex -p <profile>`.")
@click.option("--base-url", default=None, help="The gateway's /v1 URL (default: from server.host/port).")
@click.option("--codex-home", "home_dir", type=click.Path(path_type=Path), default=None,
              help="Codex's config dir (default: $CODEX_HOME, else ~/.codex).")
@click.option("--websockets/--no-websockets", default=False, show_default=True,
              help="Let Codex use the Responses WebSocket mode (supports_websockets).")
@click.option("--new-key", is_flag=True, help="Create a new gateway key even if the key file holds a valid one.")
@click.pass_context
def setup(ctx: click.Context, model: str | None, profile: str, base_url: str | None, home_dir: Path | None,
          websockets: bool, new_key: bool) -> None:
    """Write or merge a lockgate provider and profile into Codex's config (backups kept) and make a key."""
    settings = settings_from(ctx)
    home = codex_home(home_dir)
    home.mkdir(parents=True, exist_ok=True)
    url = (base_url or default_base_url(settings)).rstrip("/")

    config_path = home / "config.toml"
    doc = _load(config_path)
    _merge(_table(_table(doc, "model_providers", super_table=True), PROVIDER), provider_table(settings, url, home,
                                                                                                websockets))
    legacy = _legacy_profile(doc, profile)
    _write(config_path, doc)

    profile_path = home / f"{profile}.config.toml"
    pdoc = _load(profile_path)
    _merge(pdoc, profile_values(settings, model))
    _write(profile_path, pdoc)

    key_path = home / KEY_FILE
    created = _ensure_key(settings, key_path, new_key)
    click.echo(f"provider `{PROVIDER}` → {url} in {config_path}")
    click.echo(f"profile `{profile}` in {profile_path}")
    click.echo(f"gateway key in {key_path} ({'new' if created else 'kept'}); Codex reads it from ${ENV_KEY}")
    if legacy:
        click.echo(f"warning: {config_path} has a legacy `{legacy}`; Codex refuses `-p {profile}` until it is "
                   "removed", err=True)
    run_hint = "lockgate codex" if profile == DEFAULT_PROFILE else f"lockgate codex -p {profile}"
    click.echo(f"run: {run_hint}   (or: source {key_path} && codex -p {profile})")


def provider_table(settings: Settings, url: str, home: Path, websockets: bool) -> dict[str, Any]:
    """The `[model_providers.lockgate]` keys lockgate owns (others the user added are kept)."""
    values: dict[str, Any] = {
        "name": "lockgate",
        "base_url": url,
        "env_key": ENV_KEY,
        "env_key_instructions": f"Run `lockgate codex`, or `source {home / KEY_FILE}` (made by `lockgate codex "
                                "setup`), or create a key with `lockgate keys create --name codex` and export "
                                f"it as {ENV_KEY}.",
        "wire_api": "responses",
        "supports_websockets": websockets,
    }
    if any(info.instructions_file for info in settings.models.values()):
        # Same scheme/host/port as base_url: Codex refuses to send the key anywhere else.
        values["model_catalog_url"] = f"{url}/codex/models"
    return values


def profile_values(settings: Settings, model: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {"model_provider": PROVIDER}
    if model:
        values["model"] = model
        info = settings.models.get(model)
        if info is None and model in settings.aliases:
            info = settings.models.get(settings.aliases[model].split("/", 1)[-1])
        if info is not None and info.context_window:
            # Tells Codex the routed model's window without replacing its prompt (see codex_catalog.py).
            values["model_context_window"] = info.context_window
            if info.auto_compact_token_limit:
                values["model_auto_compact_token_limit"] = info.auto_compact_token_limit
    return values


def read_key_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        line = line.strip().removeprefix("export ").strip()
        if line.startswith(f"{ENV_KEY}="):
            value = line.split("=", 1)[1].strip().strip("'\"")
            return value or None
    return None


def _ensure_key(settings: Settings, path: Path, new_key: bool) -> bool:
    """Keep the key file's key if the gateway's store knows it and it is not revoked; else make one (True)."""
    from lockgate.store import keys as key_store

    engine = open_store(settings)
    current = None if new_key else read_key_file(path)
    if current is not None and key_store.hash_key(current) in key_store.load_active_keys(engine):
        return False
    _rec, secret = key_store.create_key(engine, "codex")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"# lockgate gateway key for Codex (lockgate codex setup); source this file or run `lockgate codex`\n"
                f"export {ENV_KEY}={secret}\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)  # also when the file existed with wider modes
    return True


def _load(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except tomlkit.exceptions.ParseError as exc:
        raise click.ClickException(f"{path} is not valid TOML ({exc}); fix it or move it away first") from None


def _write(path: Path, doc: tomlkit.TOMLDocument) -> None:
    """Write if anything changed, keeping the old file as <name>.bak-<time>."""
    text = tomlkit.dumps(doc)
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if old == text:
            return
        backup = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        n = 1
        while backup.exists():
            backup = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
            n += 1
        shutil.copy2(path, backup)
        click.echo(f"backup: {backup}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _table(parent: tomlkit.TOMLDocument | Table | Container, name: str, *, super_table: bool = False) -> Table:
    existing = parent.get(name)
    if isinstance(existing, Table):
        return existing
    if existing is not None:
        raise click.ClickException(f"`{name}` in Codex's config is not a table; fix it by hand first")
    table = tomlkit.table(is_super_table=super_table)
    parent[name] = table
    return table


def _merge(target: tomlkit.TOMLDocument | Table, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if target.get(key) != value:  # unchanged values keep their formatting and comments
            target[key] = value


def _legacy_profile(doc: tomlkit.TOMLDocument, profile: str) -> str | None:
    profiles = doc.get("profiles")
    if isinstance(profiles, dict) and profile in profiles:
        return f"[profiles.{profile}]"
    if doc.get("profile") == profile:
        return f'profile = "{profile}"'
    return None
