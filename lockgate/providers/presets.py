"""Well-known providers as data: the env vars their official SDKs read, and their defaults.

With no `[providers]` in the config file, every preset whose key variable is set (or,
for keyless local hosts, whose base-URL variable is set) becomes a provider.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRESETS", "PRESETS_BY_NAME", "Preset"]


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    type: str  # adapter module in lockgate.providers
    base_url: str
    key_env: str | None  # env var with the API key
    base_url_env: str | None  # env var that overrides base_url
    apis: tuple[str, ...]  # inbound APIs the host speaks natively
    models: tuple[str, ...] = ()  # glob patterns routed here without a provider prefix
    websockets: bool = False  # serves the Responses API's WebSocket mode on {base_url}/responses


OPENAI_MODELS = ("gpt-*", "chatgpt-*", "o1*", "o3*", "o4*", "codex-*", "text-embedding-*", "omni-*", "computer-use-*")

PRESETS: tuple[Preset, ...] = (
    Preset("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL",
           ("responses", "chat", "embeddings"), OPENAI_MODELS, websockets=True),
    Preset("azure", "azure", "", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", ("responses", "chat", "embeddings"),
           websockets=True),
    Preset("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
           ("messages",), ("claude-*",)),
    Preset("gemini", "gemini", "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY", None,
           ("gemini",), ("gemini-*",)),
    # Bedrock: a Bedrock API key, else SigV4 with the AWS_* credentials (providers/bedrock.py).
    Preset("bedrock", "bedrock", "", "AWS_BEARER_TOKEN_BEDROCK", None, ("invoke", "converse"),
           ("anthropic.*", "*.anthropic.*", "amazon.*", "*.amazon.*", "meta.*", "*.meta.*", "mistral.*")),
    Preset("groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", None, ("chat", "responses")),
    Preset("deepseek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", None, ("chat",),
           ("deepseek-*",)),
    Preset("mistral", "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", None, ("chat", "embeddings"),
           ("mistral-*", "codestral-*", "magistral-*", "devstral-*")),
    Preset("xai", "openai", "https://api.x.ai/v1", "XAI_API_KEY", None, ("chat", "responses"), ("grok-*",),
           websockets=True),
    Preset("openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", None,
           ("chat", "responses")),
    Preset("together", "openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY", None, ("chat", "embeddings")),
    Preset("fireworks", "openai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", None,
           ("chat", "responses", "embeddings")),
    Preset("cerebras", "openai", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", None, ("chat",)),
    Preset("perplexity", "openai", "https://api.perplexity.ai", "PERPLEXITY_API_KEY", None, ("chat",),
           ("sonar*",)),
    # Local servers. Ollama (0.13.3+ Responses, 0.14+ Messages), vLLM, LM Studio and llama.cpp serve
    # Anthropic's Messages API next to OpenAI's under the same /v1 base, so Claude Code reaches them
    # without translation. vLLM, LM Studio and llama.cpp have no env var: use them with
    # `preset = "vllm"` (etc.) in a [providers.NAME] table.
    Preset("ollama", "openai", "http://127.0.0.1:11434/v1", None, "OLLAMA_HOST",
           ("chat", "responses", "messages", "embeddings")),
    Preset("vllm", "openai", "http://127.0.0.1:8000/v1", None, None, ("chat", "responses", "messages", "embeddings")),
    Preset("lmstudio", "openai", "http://127.0.0.1:1234/v1", None, None,
           ("chat", "responses", "messages", "embeddings")),
    Preset("llamacpp", "openai", "http://127.0.0.1:8080/v1", None, None, ("chat", "messages", "embeddings")),
)

PRESETS_BY_NAME = {p.name: p for p in PRESETS}
