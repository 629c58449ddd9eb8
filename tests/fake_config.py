"""Provider tables of lockgate.toml for the fake upstreams (tests/fakes/), so that every
test gateway routes to them the same way."""

from __future__ import annotations

from typing import Any

__all__ = ["anthropic_table", "chat_only_table", "gemini_table"]


def _table(name: str, lines: list[str], models: tuple[str, ...]) -> str:
    pats = ", ".join(f'"{m}"' for m in models)
    return "\n".join([f"[providers.{name}]", *lines, f"models = [{pats}]", ""]) + "\n"


def anthropic_table(fakes: dict[str, Any], name: str = "claude", models: tuple[str, ...] = ("claude-*",)) -> str:
    return _table(name, ['type = "anthropic"', f'base_url = "{fakes["anthropic"].url}"',
                         'api_key_env = "FAKE_ANTHROPIC_KEY"'], models)


def gemini_table(fakes: dict[str, Any], name: str = "gem", models: tuple[str, ...] = ("gemini-*",)) -> str:
    return _table(name, ['type = "gemini"', f'base_url = "{fakes["gemini"].base_url}"', 'apis = ["gemini"]',
                         'api_key_env = "FAKE_GEMINI_KEY"'], models)


def chat_only_table(base_url: str, key_env: str, name: str = "local", models: tuple[str, ...] = ("local-*",)) -> str:
    return _table(name, [f'base_url = "{base_url}"', 'apis = ["chat"]', f'api_key_env = "{key_env}"'], models)
