"""Format names → format modules, and which format each API name speaks.

Format packages are imported on first use: a gateway that only passes bytes through
never loads a translator.
"""

from __future__ import annotations

import importlib
from typing import cast

from lockgate.formats.base import ClientFormat, ProviderFormat

__all__ = ["API_FORMATS", "TARGET_PREFERENCE", "client_format", "provider_format", "target_api"]

# API name (as in config `apis` and LogRecord.api) → wire format name.
API_FORMATS = {
    "responses": "openai_responses",
    "chat": "openai_chat",
    "messages": "anthropic_messages",
    "gemini": "gemini",
    "converse": "bedrock_converse",
    "invoke": "bedrock_anthropic",  # Anthropic's Messages body on Bedrock (Claude models)
}

# For a client speaking the key API, the provider APIs to translate to, best first: the
# closer the formats, the less is lost (Responses and Messages both carry reasoning and
# typed output items; chat is the lowest common denominator).
TARGET_PREFERENCE = {
    "responses": ("responses", "messages", "invoke", "converse", "gemini", "chat"),
    "chat": ("chat", "responses", "messages", "invoke", "converse", "gemini"),
    "messages": ("messages", "invoke", "converse", "responses", "gemini", "chat"),
}


def target_api(inbound: str, provider_apis: frozenset[str]) -> str | None:
    """The provider API a request from `inbound` is sent as; None if none is translatable."""
    for api in TARGET_PREFERENCE.get(inbound, ()):
        if api in provider_apis:
            return api
    return None


def _module(fmt: str) -> object:
    return importlib.import_module(f"lockgate.formats.{fmt}").FORMAT


def client_format(api: str) -> ClientFormat:
    return cast(ClientFormat, _module(API_FORMATS[api]))


def provider_format(api: str) -> ProviderFormat:
    return cast(ProviderFormat, _module(API_FORMATS[api]))
