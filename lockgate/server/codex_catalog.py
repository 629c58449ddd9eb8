"""GET /v1/codex/models: a Codex model catalog for the names in `[models.*]` (docs/codex.md).

Codex (0.169) fetches `model_catalog_url` of a custom provider as `GET <url>?client_version=X`
with the provider's key, and expects `{"models": [ModelInfo, ...]}`. An entry replaces all that
Codex knows about the slug, its base instructions (the system prompt, input[0]) too, so only
entries with an `instructions_file` are served; Codex keeps its bundled or fallback metadata for
every other name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from lockgate.config import ModelInfoSettings, Settings
from lockgate.errors import GatewayError

__all__ = ["catalog_body", "catalog_entry"]


def catalog_entry(name: str, info: ModelInfoSettings, instructions: str, priority: int) -> dict[str, Any]:
    """One Codex ModelInfo object (the fields Codex 0.169 requires, plus the optional ones we know)."""
    entry: dict[str, Any] = {
        "slug": name,
        "display_name": info.display_name or name,
        "description": info.description or f"{name} through lockgate",
        "default_reasoning_level": info.default_reasoning_effort if info.reasoning_efforts else None,
        "supported_reasoning_levels": [{"effort": e, "description": e} for e in info.reasoning_efforts],
        "shell_type": "shell_command",
        "visibility": "list",
        "supported_in_api": True,
        "priority": priority,
        "upgrade": None,
        "base_instructions": instructions,
        "supports_reasoning_summaries": info.reasoning_summaries,
        "support_verbosity": False,
        "default_verbosity": None,
        "apply_patch_tool_type": "freeform",
        "truncation_policy": {"mode": "tokens", "limit": 10000},
        "supports_parallel_tool_calls": info.parallel_tool_calls,
        "experimental_supported_tools": [],
        "input_modalities": info.input_modalities,
    }
    if info.context_window is not None:
        entry["context_window"] = info.context_window
    if info.auto_compact_token_limit is not None:
        entry["auto_compact_token_limit"] = info.auto_compact_token_limit
    return entry


def catalog_body(settings: Settings) -> bytes:
    """The catalog, read from the config on each call (the route is called once per Codex start)."""
    models = []
    for i, (name, info) in enumerate(settings.models.items()):
        if not info.instructions_file:
            continue
        try:
            instructions = Path(info.instructions_file).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GatewayError(f"models.{name}.instructions_file cannot be read: {exc}",
                               code="config_error") from exc
        models.append(catalog_entry(name, info, instructions, i + 1))
    return orjson.dumps({"models": models})
