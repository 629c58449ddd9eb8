"""The neutral form every translation passes through: wire format → IR → wire format.

Each format module in `lockgate/formats/` decodes its wire shape into these values and
encodes them back, so N formats need N modules, never N×M converters. The IR holds what
the formats have in common; what only one format knows travels in `extra` (unknown or
format-specific fields, re-emitted only by the format that produced them) and
`Reasoning.source` (opaque reasoning goes back only to the provider format that made it).

Conventions (every format converts at its edge):
- `Usage.input_tokens` counts every prompt token, cached reads and cache writes included
  (OpenAI's convention; Anthropic reports the three separately).
- Tool calls and their results are matched by `call_id`. A tool result is a `ToolResult`
  part in a message with role "tool"; encoders regroup where the target wants them inside
  a user turn (Anthropic, Gemini) or one message per result (OpenAI chat).
- A custom (freeform) tool call carries its raw string input in `ToolCall.arguments`; a
  function call carries the JSON text of its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BuiltinTool", "File", "FinishReason", "Image", "Message", "Opaque", "Part", "Reasoning", "Refusal", "Request",
    "Response", "ResponseFormat", "Role", "StreamError", "StreamEvent", "StreamFinish", "StreamPartDelta",
    "StreamPartEnd", "StreamPartStart", "StreamStart", "Text", "Tool", "ToolCall", "ToolChoice", "ToolResult",
    "Usage",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "refusal", "pause", "error"]
Json = dict[str, Any]


# -- content parts ----------------------------------------------------------------------

@dataclass(slots=True)
class Text:
    text: str
    cache_control: Json | None = None  # Anthropic prompt caching marker on this block
    extra: Json = field(default_factory=dict)  # e.g. OpenAI annotations/logprobs, Anthropic citations


@dataclass(slots=True)
class Image:
    """An image by URL or inline base64 `data` (then `media_type` is set)."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None  # OpenAI's low/high/auto
    cache_control: Json | None = None
    file_id: str | None = None  # an uploaded file (OpenAI Responses input_image.file_id)
    extra: Json = field(default_factory=dict)  # e.g. an Anthropic `file` source


@dataclass(slots=True)
class File:
    """A document (PDF, text…) by inline base64 `data`, URL or a provider `file_id`."""

    data: str | None = None
    url: str | None = None
    file_id: str | None = None
    media_type: str | None = None
    filename: str | None = None
    cache_control: Json | None = None
    extra: Json = field(default_factory=dict)  # e.g. Anthropic document citations/context, a `content` source


@dataclass(slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str  # JSON text (function) or the raw input (custom)
    kind: Literal["function", "custom"] = "function"
    namespace: str | None = None  # Responses `namespace` tools: the namespace the function sits in
    item_id: str | None = None  # the item id the producing API gave it (fc_…, ctc_…, toolu_… is call_id)
    extra: Json = field(default_factory=dict)  # e.g. Gemini thoughtSignature, item status
    # The format whose fields `extra` holds; None means the request's/response's own format.
    # The Responses decoders set it, and a foreign call's extra restored from a Responses
    # envelope (Gemini's thoughtSignature carried through Codex) keeps its original format,
    # so that only that format re-emits it.
    extra_source: str | None = None


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: str | list[Text | Image | File]  # plain text, or parts where the format allows them
    is_error: bool = False
    kind: Literal["function", "custom"] = "function"
    name: str | None = None  # Gemini needs the function name on the result
    cache_control: Json | None = None
    extra: Json = field(default_factory=dict)


@dataclass(slots=True)
class Reasoning:
    """Model reasoning. `source` is the format that produced it (`openai_responses`,
    `anthropic_messages`, `gemini`…); opaque fields (`encrypted`, `signature`) are only ever
    sent back to that format, byte for byte."""

    text: str = ""  # visible reasoning text (Anthropic thinking, Responses reasoning content)
    summary: list[str] = field(default_factory=list)  # Responses summary_text parts
    signature: str | None = None  # Anthropic thinking signature
    encrypted: str | None = None  # Responses encrypted_content, or Anthropic redacted_thinking data
    redacted: bool = False  # Anthropic redacted_thinking
    source: str | None = None
    item_id: str | None = None
    extra: Json = field(default_factory=dict)


@dataclass(slots=True)
class Refusal:
    text: str


@dataclass(slots=True)
class Opaque:
    """An item of one format that the IR does not model (Responses `compaction`,
    `item_reference`, `web_search_call`, `additional_tools`…), kept as its wire object so
    the format in `source` re-emits it unchanged. Translation to any other format drops it."""

    raw: Json
    source: str


Part = Text | Image | File | ToolCall | ToolResult | Reasoning | Refusal | Opaque


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]
    item_id: str | None = None  # Responses message item id
    extra: Json = field(default_factory=dict)  # fields of the message object the IR does not model


# -- tools --------------------------------------------------------------------------------

@dataclass(slots=True)
class Tool:
    """A tool the client executes: a JSON-schema function, or a custom (freeform) tool whose
    input is one raw string, optionally constrained by `format` (Responses' grammar)."""

    name: str
    description: str | None = None
    parameters: Json | None = None  # JSON schema (function)
    kind: Literal["function", "custom"] = "function"
    strict: bool | None = None
    format: Json | None = None  # custom tools: {"type": "text"} or {"type": "grammar", ...}
    namespace: str | None = None  # set when flattened out of a Responses `namespace` tool
    cache_control: Json | None = None
    extra: Json = field(default_factory=dict)


@dataclass(slots=True)
class BuiltinTool:
    """A provider-executed or special tool (`web_search`, `tool_search`, `local_shell`,
    `namespace`, Anthropic `web_search_20250305`…), kept as its wire object."""

    type: str
    raw: Json
    source: str  # format it came from


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None  # mode "tool": the one tool to call
    extra: Json = field(default_factory=dict)


@dataclass(slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: Json | None = None
    strict: bool | None = None
    description: str | None = None


# -- request and response -------------------------------------------------------------------

@dataclass(slots=True)
class Request:
    model: str
    messages: list[Message]
    system: list[Text] = field(default_factory=list)  # instructions / system prompt
    tools: list[Tool] = field(default_factory=list)
    builtin_tools: list[BuiltinTool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None  # minimal/low/medium/high/xhigh (OpenAI)
    reasoning_summary: str | None = None  # Responses reasoning.summary
    thinking_budget: int | None = None  # Anthropic/Gemini budget tokens
    metadata: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    source: str = ""  # the format it was decoded from
    extra: Json = field(default_factory=dict)  # top-level fields the IR does not model (same format only)


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0  # all prompt tokens, cached reads and cache writes included
    output_tokens: int = 0  # reasoning included
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes (5 min and 1 h)
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False  # counted by lockgate because the upstream sent none

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Response:
    id: str
    model: str
    content: list[Part]  # Text, Refusal, ToolCall, Reasoning, in output order
    finish_reason: FinishReason = "stop"
    stop_sequence: str | None = None
    usage: Usage | None = None
    created: int = 0  # unix seconds
    source: str = ""
    extra: Json = field(default_factory=dict)


# -- streaming --------------------------------------------------------------------------------
# A provider stream decoder turns upstream events into these; an inbound stream encoder turns
# them into the client's event sequence. Parts are numbered by `index` in output order; a
# part starts, gets deltas, and ends with its complete value.

@dataclass(slots=True)
class StreamStart:
    id: str
    model: str
    created: int = 0
    usage: Usage | None = None  # Anthropic reports input usage at message_start


@dataclass(slots=True)
class StreamPartStart:
    index: int
    part: Text | ToolCall | Reasoning | Refusal | Opaque  # empty text/arguments; ids and names set


@dataclass(slots=True)
class StreamPartDelta:
    index: int
    text: str = ""  # text, refusal or reasoning text, or tool-call argument JSON/raw input
    kind: Literal["text", "arguments", "reasoning", "summary", "refusal"] = "text"


@dataclass(slots=True)
class StreamPartEnd:
    index: int
    part: Part  # the complete part (full text / arguments, signature, encrypted content)


@dataclass(slots=True)
class StreamFinish:
    finish_reason: FinishReason
    usage: Usage | None = None
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamError:
    message: str
    code: str = "upstream_error"
    status: int = 502


StreamEvent = StreamStart | StreamPartStart | StreamPartDelta | StreamPartEnd | StreamFinish | StreamError
