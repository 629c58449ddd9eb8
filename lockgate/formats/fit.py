"""Fit a request to what the target format can express, and undo the fitting on the answer.

Runs between decode and encode on every translated request (never on passthrough):
- custom (freeform) tools become functions with one string parameter `input`, when the
  target has no custom tools; calls come back as custom calls with the raw string;
- Responses `namespace` tools are flattened into functions named `<namespace>__<name>`
  and calls to them come back with their namespace;
- Responses `tool_search` with client execution (Codex's tool discovery) is offered as a
  function; its calls come back as `tool_search_call` items, and the tools a
  `tool_search_output` in the history revealed are offered as functions too;
- built-in tools the target cannot run are removed (named in `Fitted.dropped`), or, in
  strict mode, refused with a 400 that names them: Codex offers several on every request
  and an agent's turn must not fail over a tool the model would rarely call;
- a tool choice of "auto" or "none" is removed when no tool is left to choose from;
- reasoning made by another format is removed: its opaque parts (encrypted content,
  signatures) would be rejected by any other provider (peers.md §3.3 #17, #22);
- format-specific leftovers are removed when the target is another format: `extra` fields
  (a request's unknown top-level fields, a Gemini thought signature on a call...) unless
  they came from the target format, and `Opaque` items (Responses `compaction`,
  `item_reference`...) that only their own format can read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from lockgate import ir
from lockgate.errors import TranslationError

__all__ = ["CUSTOM_INPUT", "Fitted", "StreamRestorer", "fit_request", "restore_response"]

CUSTOM_INPUT = "input"  # the one string parameter a custom tool becomes
TOOL_SEARCH = "tool_search"
_NAME_OK = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Formats that take custom tools as they are (OpenAI's own APIs).
_CUSTOM_NATIVE = frozenset({"openai_responses"})
# OpenAI reasoning effort → Anthropic thinking budget (tokens; Anthropic's minimum is 1024).
# Codex always sends an effort; without a budget Claude would answer without thinking.
_EFFORT_BUDGET = {"low": 2048, "medium": 8192, "high": 16384, "xhigh": 32000}


@dataclass
class Fitted:
    request: ir.Request
    dropped: list[str] = field(default_factory=list)  # built-in tools removed, by type (or name)
    custom: set[str] = field(default_factory=set)  # wire names of custom tools sent as functions
    flattened: dict[str, tuple[str, str]] = field(default_factory=dict)  # wire name → (namespace, name)
    tool_search: bool = False  # `tool_search` (client execution) is offered as a function

    def restore_part(self, call: ir.ToolCall) -> ir.ToolCall | ir.Opaque:
        """A call the target made, as the client offered the tool (a tool search is an item of its own)."""
        if self.tool_search and call.name == TOOL_SEARCH:
            return _tool_search_call(call)
        return self.restore_call(call)

    def restore_call(self, call: ir.ToolCall) -> ir.ToolCall:
        """A call the target made, as the client offered the tool."""
        name, namespace = call.name, call.namespace
        if name in self.flattened:
            namespace, name = self.flattened[name]
        if call.name in self.custom and call.kind == "function":
            return replace(call, name=name, namespace=namespace, kind="custom",
                           arguments=_custom_input(call.arguments))
        if (name, namespace) != (call.name, call.namespace):
            return replace(call, name=name, namespace=namespace)
        return call


def fit_request(req: ir.Request, target: str, *, strict: bool = False) -> Fitted:
    """A copy of `req` that `target` can encode, plus what was changed (to restore answers)."""
    fitted = Fitted(request=req)
    custom_native = target in _CUSTOM_NATIVE
    wire: dict[tuple[str | None, str], str] = {}  # (namespace, name) → wire name

    tools: list[ir.Tool] = []
    for tool in req.tools:
        tools.append(_fit_tool(tool, None, custom_native, fitted, wire))
    builtins: list[ir.BuiltinTool] = []
    for bt in req.builtin_tools:
        if bt.source == target:
            builtins.append(bt)
        elif bt.type == "namespace" and target != "openai_responses":
            tools += [_fit_tool(t, str(bt.raw.get("name") or ""), custom_native, fitted, wire)
                      for t in _namespace_tools(bt.raw)]
        elif bt.type == TOOL_SEARCH and bt.raw.get("execution") == "client" and bt.source == "openai_responses":
            fitted.tool_search = True
            tools.append(ir.Tool(name=TOOL_SEARCH, description=bt.raw.get("description"),
                                 parameters=bt.raw.get("parameters") or {"type": "object", "properties": {}}))
        else:
            fitted.dropped.append(_builtin_label(bt))
    if strict and fitted.dropped:
        raise TranslationError(
            f"The provider's API cannot run the built-in tool(s) {', '.join(fitted.dropped)}; remove them or turn "
            "off translation.strict to have lockgate leave them out.", param="tools")

    foreign = req.source != target
    history = req.messages
    if fitted.tool_search:
        history, found = _tool_search_history(history)
        known = {t.name for t in tools}
        for raw in found:
            if raw.get("type") == "namespace":
                new = [_fit_tool(t, str(raw.get("name") or ""), custom_native, fitted, wire)
                       for t in _namespace_tools(raw)]
            else:
                new = [_fit_tool(t, None, custom_native, fitted, wire) for t in _namespace_tools({"tools": [raw]})]
            tools += [t for t in new if t.name not in known]
            known |= {t.name for t in new}
    messages = [_fit_message(m, target, custom_native, wire, req.source) for m in history]
    messages = [m for m in messages if m.parts]
    choice = req.tool_choice
    if choice is not None and choice.mode == "tool" and choice.name is not None:
        name = wire.get((None, choice.name), choice.name)
        if name != choice.name:
            choice = replace(choice, name=name)
    if foreign:
        tools = [replace(t, extra={}) if t.extra else t for t in tools]
        if choice is not None and choice.extra:
            choice = replace(choice, extra={})
        if choice is not None and choice.mode in ("auto", "none") and not tools and not builtins:
            # Nothing to choose from, so "auto"/"none" mean what no choice means, and Anthropic and
            # strict chat hosts (vLLM, DashScope) refuse a tool_choice without tools. Codex sends
            # `tools: []` with "auto" for its guardian review and its compaction summary.
            choice = None
    budget = req.thinking_budget
    if (budget is None and target == "anthropic_messages" and req.reasoning_effort in _EFFORT_BUDGET
            and (choice is None or choice.mode in ("auto", "none")) and req.temperature in (None, 1)):
        # Thinking cannot be combined with a forced tool choice or another temperature.
        budget = _EFFORT_BUDGET[req.reasoning_effort]
        limit = req.max_output_tokens
        if limit is not None and budget >= limit:  # the budget must fit inside max_tokens
            budget = limit - 1 if limit > 1024 else None
    fitted.request = replace(req, tools=tools, builtin_tools=builtins, messages=messages, tool_choice=choice,
                             extra={} if foreign else req.extra, thinking_budget=budget)
    return fitted


def _fit_tool(tool: ir.Tool, namespace: str | None, custom_native: bool, fitted: Fitted,
              wire: dict[tuple[str | None, str], str]) -> ir.Tool:
    namespace = namespace or tool.namespace
    name = _wire_name(namespace, tool.name) if namespace else tool.name
    wire[(namespace, tool.name)] = name
    if namespace:
        fitted.flattened[name] = (namespace, tool.name)
    if tool.kind == "custom" and not custom_native:
        fitted.custom.add(name)
        return replace(tool, name=name, namespace=None, kind="function", format=None, strict=None,
                       description=_custom_description(tool), parameters=_custom_parameters())
    return replace(tool, name=name, namespace=None) if name != tool.name or tool.namespace else tool


def _fit_message(msg: ir.Message, target: str, custom_native: bool,
                 wire: dict[tuple[str | None, str], str], source: str) -> ir.Message:
    parts: list[ir.Part] = []
    for part in msg.parts:
        if isinstance(part, ir.Reasoning | ir.Opaque):
            if part.source == target:
                parts.append(part)
            continue
        if isinstance(part, ir.ToolCall) and part.extra and (part.extra_source or source) != target:
            part = replace(part, extra={}, extra_source=None)
        elif isinstance(part, ir.Text | ir.Image | ir.File | ir.ToolResult) and part.extra and source != target:
            part = replace(part, extra={})
        if isinstance(part, ir.ToolCall):
            name = wire.get((part.namespace, part.name), part.name)
            if part.namespace and (part.namespace, part.name) not in wire:
                name = _wire_name(part.namespace, part.name)
            if part.kind == "custom" and not custom_native:
                parts.append(replace(part, name=name, namespace=None, kind="function",
                                     arguments=orjson.dumps({CUSTOM_INPUT: part.arguments}).decode()))
            elif name != part.name or part.namespace:
                parts.append(replace(part, name=name, namespace=None))
            else:
                parts.append(part)
        elif isinstance(part, ir.ToolResult) and part.kind == "custom" and not custom_native:
            parts.append(replace(part, kind="function"))
        else:
            parts.append(part)
    extra = msg.extra if source == target else {}
    return replace(msg, parts=parts, extra=extra) if parts != msg.parts or extra is not msg.extra else msg


def _namespace_tools(raw: dict[str, Any]) -> Iterator[ir.Tool]:
    for t in raw.get("tools") or ():
        if not isinstance(t, dict) or not t.get("name"):
            continue
        if t.get("type") == "custom":
            yield ir.Tool(name=str(t["name"]), description=t.get("description"), kind="custom", format=t.get("format"))
        else:
            yield ir.Tool(name=str(t["name"]), description=t.get("description"), parameters=t.get("parameters"),
                          strict=t.get("strict"))


def _builtin_label(bt: ir.BuiltinTool) -> str:
    name = bt.raw.get("name")
    return f"{bt.type}:{name}" if isinstance(name, str) and name and name != bt.type else bt.type


def _wire_name(namespace: str, name: str) -> str:
    """`<namespace>__<name>`, made valid for every provider (letters, digits, _ and -, ≤ 64)."""
    joined = re.sub(r"[^a-zA-Z0-9_-]", "_", f"{namespace}__{name}")
    if _NAME_OK.match(joined):
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
    return f"{joined[:55]}_{digest}"


def _custom_description(tool: ir.Tool) -> str:
    text = tool.description or ""
    fmt = tool.format or {}
    if fmt.get("type") == "grammar" and fmt.get("definition"):
        # The grammar is how the model knows the input's shape; a function schema cannot carry it.
        text += (f"\n\nPass the raw input as the string parameter `{CUSTOM_INPUT}`. It must match this "
                 f"{fmt.get('syntax', 'grammar')} grammar:\n{fmt['definition']}")
    else:
        text += f"\n\nPass the raw input as the string parameter `{CUSTOM_INPUT}`."
    return text.strip()


def _custom_parameters() -> dict[str, Any]:
    return {"type": "object", "properties": {CUSTOM_INPUT: {"type": "string"}}, "required": [CUSTOM_INPUT],
            "additionalProperties": False}


def _custom_input(arguments: str) -> str:
    """The raw string for a custom tool out of a function call's JSON arguments.

    A model may wrap the input under another key, or send a bare JSON string; a freeform
    tool must never receive a JSON object (peers.md §3.3 #14), so take the one string
    there is, else the arguments as they came."""
    try:
        value = orjson.loads(arguments) if arguments else ""
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if isinstance(value.get(CUSTOM_INPUT), str):
            return str(value[CUSTOM_INPUT])
        strings = [v for v in value.values() if isinstance(v, str)]
        if len(strings) == 1:
            return strings[0]
    return arguments


def _tool_search_history(messages: list[ir.Message]) -> tuple[list[ir.Message], list[dict[str, Any]]]:
    """Codex's tool_search_call / tool_search_output items as a function call and its result,
    plus the tools the searches revealed (to offer them to the target)."""
    out: list[ir.Message] = []
    found: list[dict[str, Any]] = []
    for msg in messages:
        parts: list[ir.Part] = []
        for part in msg.parts:
            kind = part.raw.get("type") if isinstance(part, ir.Opaque) else None
            if isinstance(part, ir.Opaque) and kind == "tool_search_call":
                parts.append(ir.ToolCall(str(part.raw.get("call_id") or part.raw.get("id") or ""), TOOL_SEARCH,
                                         orjson.dumps(part.raw.get("arguments") or {}).decode()))
            elif isinstance(part, ir.Opaque) and kind == "tool_search_output":
                revealed = [t for t in part.raw.get("tools") or () if isinstance(t, dict)]
                found += revealed
                names = [str(t.get("name")) for t in revealed if t.get("name")]
                text = "Tools now available: " + ", ".join(names) if names else "No matching tools."
                parts.append(ir.ToolResult(str(part.raw.get("call_id") or ""), text, name=TOOL_SEARCH))
            else:
                parts.append(part)
        out.append(replace(msg, parts=parts) if parts != msg.parts else msg)
    return out, found


def _tool_search_call(call: ir.ToolCall) -> ir.Opaque:
    try:
        arguments = orjson.loads(call.arguments) if call.arguments else {}
    except orjson.JSONDecodeError:
        arguments = {"query": call.arguments}
    digest = hashlib.sha256(call.call_id.encode()).hexdigest()[:24]
    return ir.Opaque(raw={"type": "tool_search_call", "id": f"tsc_{digest}", "call_id": call.call_id,
                          "execution": "client", "arguments": arguments, "status": "completed"},
                     source="openai_responses")


def restore_response(resp: ir.Response, fitted: Fitted) -> ir.Response:
    if not fitted.custom and not fitted.flattened and not fitted.tool_search:
        return resp
    content: list[ir.Part] = [fitted.restore_part(p) if isinstance(p, ir.ToolCall) else p for p in resp.content]
    return replace(resp, content=content)


class StreamRestorer:
    """Undoes the fitting on a stream of IR events.

    A custom tool's raw input is inside the JSON arguments the target streams, and partial
    JSON cannot be unwrapped safely, so its argument deltas are held back and the raw input
    goes out in one delta when the call ends."""

    def __init__(self, fitted: Fitted) -> None:
        self._fitted = fitted
        self._held: set[int] = set()
        self._searches: set[int] = set()

    def _tool_search(self, ev: ir.StreamEvent, out: list[ir.StreamEvent]) -> bool:
        """A tool search goes out as one whole item when the call ends; True if `ev` was one."""
        if isinstance(ev, ir.StreamPartStart) and isinstance(ev.part, ir.ToolCall) and ev.part.name == TOOL_SEARCH:
            self._searches.add(ev.index)
            return True
        if isinstance(ev, ir.StreamPartDelta) and ev.index in self._searches:
            return True
        if isinstance(ev, ir.StreamPartEnd) and ev.index in self._searches and isinstance(ev.part, ir.ToolCall):
            self._searches.discard(ev.index)
            out.append(ir.StreamPartEnd(ev.index, _tool_search_call(ev.part)))
            return True
        return False

    def __call__(self, events: Iterable[ir.StreamEvent]) -> list[ir.StreamEvent]:
        f = self._fitted
        if not f.custom and not f.flattened and not f.tool_search:
            return list(events)
        out: list[ir.StreamEvent] = []
        for ev in events:
            if f.tool_search and self._tool_search(ev, out):
                continue
            if isinstance(ev, ir.StreamPartStart) and isinstance(ev.part, ir.ToolCall):
                call = f.restore_call(ev.part)
                if call.kind == "custom" and ev.part.kind == "function":
                    self._held.add(ev.index)
                    call = replace(call, arguments="")
                out.append(ir.StreamPartStart(ev.index, call))
            elif isinstance(ev, ir.StreamPartDelta) and ev.index in self._held:
                continue
            elif isinstance(ev, ir.StreamPartEnd) and isinstance(ev.part, ir.ToolCall):
                call = f.restore_call(ev.part)
                if ev.index in self._held:
                    self._held.discard(ev.index)
                    if call.arguments:
                        out.append(ir.StreamPartDelta(ev.index, call.arguments, "arguments"))
                out.append(ir.StreamPartEnd(ev.index, call))
            else:
                out.append(ev)
        return out
