"""What the Codex end-to-end tests share: the model Codex asks for, the scripted session's
prompts, and the upstreams a scripted gateway routes to (fixtures in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fake_config import anthropic_table, chat_only_table, gemini_table
from tests.fakes.scripted_model import SEED, ScriptedModel

MODEL = "gpt-5.5"
PROMPT = "Run the greeting command, then update notes.txt, then tell me what you did."
RESUME_PROMPT = "Is the work still done?"


@dataclass(frozen=True)
class Upstream:
    provider: str  # the gateway's provider table
    provider_api: str  # what the log row should say the provider was sent
    alias: str  # the gateway's alias for gpt-5.5 ("" = passthrough by model pattern)


UPSTREAMS = {
    "openai-responses": Upstream("openai", "responses", ""),
    "chat-only": Upstream("local", "chat", "local/local-codex-script"),
    "anthropic": Upstream("claude", "messages", "claude/claude-codex-script"),
    "gemini": Upstream("gem", "gemini", "gem/gemini-3-codex-script"),
}


def workdir(tmp: Path) -> tuple[Path, Path]:
    """(CODEX_HOME, working directory) for one session, with the file the script patches."""
    home, work = tmp / "codex-home", tmp / "work"
    home.mkdir()
    work.mkdir()
    (work / "notes.txt").write_text(SEED, encoding="utf-8")
    return home, work


def gateway_config(scripted: ScriptedModel, fakes: dict[str, Any], upstream: str, websockets: bool) -> str:
    """A gateway whose `gpt-5.5` reaches the scripted model through `upstream`."""
    up = UPSTREAMS[upstream]
    alias = f'"{MODEL}" = "{up.alias}"' if up.alias else ""
    # Codex's auto review ("guardian", the Python SDK's default approval mode) asks for a slug of
    # its own: `codex-auto-review`, or `gpt-5.6-luna` when Codex is logged in with an API key
    # (tests/test_codex_guardian.py). Both go where gpt-5.5 goes.
    review = up.alias or f"{up.provider}/{MODEL}"
    alias += f'\n"codex-auto-review" = "{review}"\n"gpt-5.6-luna" = "{review}"'
    return f"""
[log]
flush_interval = 0.05

[server]
websockets = {"true" if websockets else "false"}

[upstream]
connect_timeout = 2
read_timeout = 20

[providers.openai]
base_url = "{scripted.url}"
api_key_env = "SCRIPTED_KEY"
apis = ["responses"]
models = ["gpt-*"]
websockets = {"true" if websockets else "false"}

{chat_only_table(scripted.url, "SCRIPTED_KEY")}
{anthropic_table(fakes)}
{gemini_table(fakes)}
[aliases]
{alias}
"""
