"""Well-known providers as data: the env vars their official SDKs read, and their defaults.

With no `[providers]` in the config file, every preset whose key variable is set (or,
for keyless local hosts, whose base-URL variable is set) becomes a provider.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRESETS", "Preset"]


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    type: str  # adapter module in lockgate.providers
    base_url: str
    key_env: str | None  # env var with the API key
    base_url_env: str | None  # env var that overrides base_url
    apis: tuple[str, ...]  # inbound APIs the host speaks natively
    models: tuple[str, ...] = ()  # glob patterns routed here without a provider prefix


OPENAI_MODELS = ("gpt-*", "chatgpt-*", "o1*", "o3*", "o4*", "codex-*", "text-embedding-*", "omni-*", "computer-use-*")

PRESETS: tuple[Preset, ...] = (
    Preset("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL",
           ("responses", "chat", "embeddings"), OPENAI_MODELS),
    Preset("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
           ("messages",), ("claude-*",)),
    Preset("gemini", "openai", "https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY", None,
           ("chat", "embeddings"), ("gemini-*",)),
    Preset("groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", None, ("chat", "responses")),
    Preset("deepseek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", None, ("chat",),
           ("deepseek-*",)),
    Preset("mistral", "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", None, ("chat", "embeddings"),
           ("mistral-*", "codestral-*", "magistral-*", "devstral-*")),
    Preset("xai", "openai", "https://api.x.ai/v1", "XAI_API_KEY", None, ("chat", "responses"), ("grok-*",)),
    Preset("openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", None,
           ("chat", "responses")),
    Preset("together", "openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY", None, ("chat", "embeddings")),
    Preset("ollama", "openai", "http://127.0.0.1:11434/v1", None, "OLLAMA_HOST", ("chat", "embeddings")),
)
