"""Tools, tool choice and `generationConfig` of a Gemini request.

Tool schemas go in `parametersJsonSchema` (v1beta), which takes standard JSON Schema
(`additionalProperties`, `anyOf`, `$ref`/`$defs`…), so no lossy conversion to the older
OpenAPI-subset `parameters` field is needed. Only the `$schema` keyword, which the
endpoint rejects, is removed. Structured output uses `responseJsonSchema` likewise.

Thinking: Gemini 2.x models take a token budget (`thinkingBudget`); Gemini 3 and later take
`thinkingLevel` (budgets are refused from 3.5 on). A model name starting `gemini-1.`/`gemini-2.`
gets a budget, any other name a level; an explicit IR budget is converted to a level for
the newer models. `includeThoughts` is set when the client asked for visible reasoning
(a budget, i.e. Anthropic thinking, or a Responses reasoning summary).

Gemini has no switch for parallel calls and no request metadata/user: those IR fields are
not sent. Built-in tools: a web search becomes `googleSearch`; any other is refused (the
gateway's prepare step drops what the target lacks before this).
"""

from __future__ import annotations

import re
from typing import Any

from lockgate import ir
from lockgate.errors import TranslationError
from lockgate.formats.wire import present

__all__ = ["MAX_STOP_SEQUENCES", "encode_tools", "generation_config", "json_schema"]

Json = dict[str, Any]

MAX_STOP_SEQUENCES = 5

_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}
_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576}
_LEVELS = {"none": "MINIMAL", "minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH",
           "xhigh": "HIGH"}
_BUDGET_MODEL = re.compile(r"^(models/)?gemini-(1|2)\.")


def json_schema(schema: Json) -> Json:
    """A JSON schema as Gemini's `*JsonSchema` fields take it."""
    return {k: v for k, v in schema.items() if k != "$schema"}


def encode_tools(req: ir.Request) -> Json:
    out: Json = {}
    decls = [_declaration(t) for t in req.tools]
    tools: list[Json] = [{"functionDeclarations": decls}] if decls else []
    tools += [_builtin(b) for b in req.builtin_tools]
    if tools:
        out["tools"] = tools
    choice = req.tool_choice
    if choice is not None and decls:
        fcc: Json = {"mode": _MODES[choice.mode]}
        if choice.mode == "tool":
            if not choice.name:
                raise TranslationError("tool_choice names no tool", param="tool_choice")
            fcc["allowedFunctionNames"] = [choice.name]
        out["toolConfig"] = {"functionCallingConfig": fcc}
    return out


def _declaration(tool: ir.Tool) -> Json:
    decl: Json = {"name": tool.name}
    if tool.description:
        decl["description"] = tool.description
    if tool.kind == "custom":
        # The prepare step normally does this; kept so a custom tool never reaches Gemini raw.
        decl["parametersJsonSchema"] = {"type": "object", "properties": {"input": {"type": "string"}},
                                        "required": ["input"]}
    elif tool.parameters:
        decl["parametersJsonSchema"] = json_schema(tool.parameters)
    return decl


def _builtin(tool: ir.BuiltinTool) -> Json:
    if tool.source == "gemini":
        return tool.raw
    if tool.type.startswith("web_search"):
        return {"googleSearch": {}}
    raise TranslationError(f"Gemini has no built-in tool like {tool.type!r}", param="tools")


def generation_config(req: ir.Request) -> Json:
    gen: Json = present(maxOutputTokens=req.max_output_tokens, temperature=req.temperature, topP=req.top_p,
                        topK=req.top_k)
    if req.stop:
        if len(req.stop) > MAX_STOP_SEQUENCES:
            raise TranslationError(f"Gemini takes at most {MAX_STOP_SEQUENCES} stop sequences, got {len(req.stop)}",
                                   param="stop")
        gen["stopSequences"] = list(req.stop)
    rf = req.response_format
    if rf is not None and rf.type != "text":
        gen["responseMimeType"] = "application/json"
        if rf.type == "json_schema" and rf.schema is not None:
            gen["responseJsonSchema"] = json_schema(rf.schema)
    thinking = _thinking(req)
    if thinking:
        gen["thinkingConfig"] = thinking
    return gen


def _thinking(req: ir.Request) -> Json:
    budget_model = bool(_BUDGET_MODEL.match(req.model))
    out: Json = {}
    if req.thinking_budget is not None:
        if budget_model:
            out["thinkingBudget"] = req.thinking_budget
        else:
            out["thinkingLevel"] = _level_of_budget(req.thinking_budget)
        if req.thinking_budget > 0:
            out["includeThoughts"] = True
    elif req.reasoning_effort is not None:
        effort = req.reasoning_effort
        if effort not in _LEVELS:
            raise TranslationError(f"unknown reasoning effort {effort!r}", param="reasoning.effort")
        if budget_model:
            out["thinkingBudget"] = _BUDGETS[effort]
        else:
            out["thinkingLevel"] = _LEVELS[effort]
    if req.reasoning_summary not in (None, "none") and out.get("thinkingBudget", 1) != 0:
        out["includeThoughts"] = True
    return out


def _level_of_budget(budget: int) -> str:
    if budget <= 0:
        return "MINIMAL"
    if budget <= 4096:
        return "LOW"
    if budget <= 16384:
        return "MEDIUM"
    return "HIGH"
