"""What the fake Gemini upstream rejects, modelled on the real API's 400s.

Each check returns the error message the real API gives (or a close paraphrase where the
real text is unknown), or None when the request is acceptable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["SKIP_SIGNATURE", "current_turn_start", "normalize", "validate"]

Json = dict[str, Any]

SKIP_SIGNATURE = "skip_thought_signature_validator"

_TOP = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings",
        "cachedContent", "labels", "model", "serviceTier"}
_PART = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "thought", "thoughtSignature",
         "executableCode", "codeExecutionResult", "videoMetadata", "partMetadata", "mediaResolution"}
_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
         "codeExecutionResult")
_GEN = {"maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "candidateCount", "responseMimeType",
        "responseSchema", "responseJsonSchema", "thinkingConfig", "seed", "presencePenalty", "frequencyPenalty",
        "responseLogprobs", "logprobs", "responseModalities", "mediaResolution", "speechConfig"}
_THINKING = {"thinkingBudget", "includeThoughts", "thinkingLevel"}
# The OpenAPI subset the legacy `parameters` field takes.
_OPENAPI = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
            "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
            "propertyOrdering", "default", "items", "minimum", "maximum"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")


# Proto JSON takes a field by its lowerCamel name or its proto (snake_case) name, and the
# google-genai SDK sends some nested fields snake_case. Free-form values (call args, function
# responses, schemas) keep their keys. Each entry: the message fields to descend into.
_MESSAGES: dict[str, dict[str, str]] = {
    "request": {"contents": "content*", "systemInstruction": "content", "tools": "tool*", "toolConfig": "toolConfig",
                "generationConfig": "generationConfig"},
    "content": {"parts": "part*"},
    "part": {"inlineData": "leaf", "fileData": "leaf", "functionCall": "leaf", "functionResponse": "leaf"},
    "tool": {"functionDeclarations": "leaf*"},
    "toolConfig": {"functionCallingConfig": "leaf"},
    "generationConfig": {"thinkingConfig": "leaf"},
    "leaf": {},
}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def normalize(value: Any, message: str = "request") -> Any:
    """The body with every proto field name in lowerCamel form."""
    many = message.endswith("*")
    kind = message.rstrip("*")
    if many:
        return [normalize(v, kind) for v in value] if isinstance(value, list) else value
    if not isinstance(value, dict):
        return value
    fields = _MESSAGES[kind]
    out = {}
    for key, v in value.items():
        name = _camel(key)
        out[name] = normalize(v, fields[name]) if name in fields else v
    return out


def _unknown(name: str, where: str) -> str:
    at = f" at '{where}'" if where else ""
    return f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'


def validate(body: Any, strict_signatures: bool, budget_model: bool, known_signature: Callable[[str], bool]
             ) -> str | None:
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for key in body:
        if key not in _TOP:
            return _unknown(key, "")
    if (err := _contents(body.get("contents"))) is not None or (err := _pairing(body["contents"])) is not None:
        return err
    checks: list[str | None] = [
        _signatures(body["contents"], strict_signatures, known_signature),
        _system(body.get("systemInstruction")),
        _tools(body.get("tools")),
        _tool_config(body.get("toolConfig"), body.get("tools")),
        _generation(body.get("generationConfig"), budget_model),
    ]
    return next((c for c in checks if c is not None), None)


def _contents(contents: Any) -> str | None:
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for i, c in enumerate(contents):
        if not isinstance(c, dict):
            return f"Invalid value at 'contents[{i}]': expected an object"
        if c.get("role") not in ("user", "model"):
            return "Please use a valid role: user, model."
        parts = c.get("parts")
        if not isinstance(parts, list) or not parts:
            return f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
        for j, p in enumerate(parts):
            if (err := _part(p, f"contents[{i}].parts[{j}]")) is not None:
                return err
    return None


def _part(p: Any, where: str) -> str | None:
    if not isinstance(p, dict):
        return f"Invalid value at '{where}': expected an object"
    for key in p:
        if key not in _PART:
            return _unknown(key, where)
    data = [k for k in _DATA if k in p]
    if len(data) != 1:
        return f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized field"
    kind = data[0]
    if kind == "text" and not isinstance(p["text"], str):
        return f"Invalid value at '{where}.text': expected a string"
    if kind == "text" and not p["text"] and "thoughtSignature" not in p:
        return ("Unable to submit request because it has an empty text parameter. Add a value to the parameter "
                "and try again.")
    if kind == "inlineData" and not (isinstance(p["inlineData"], dict) and p["inlineData"].get("mimeType")
                                     and isinstance(p["inlineData"].get("data"), str)):
        return f"* GenerateContentRequest.{where}.inline_data: mime_type and data are required"
    if kind == "fileData" and not (isinstance(p["fileData"], dict) and p["fileData"].get("fileUri")):
        return f"* GenerateContentRequest.{where}.file_data.file_uri: file_uri must be set"
    if kind == "functionCall":
        fc = p["functionCall"]
        if not isinstance(fc, dict) or not fc.get("name"):
            return f"* GenerateContentRequest.{where}.function_call.name: Name cannot be empty."
        if "args" in fc and not isinstance(fc["args"], dict):
            return f"Invalid value at '{where}.function_call.args': expected an object"
    if kind == "functionResponse":
        fr = p["functionResponse"]
        if not isinstance(fr, dict) or not fr.get("name"):
            return f"* GenerateContentRequest.{where}.function_response.name: Name cannot be empty."
        if not isinstance(fr.get("response"), dict):
            return f"Invalid value at '{where}.function_response.response': expected an object"
    return None


def _calls(c: Json) -> list[Json]:
    return [p["functionCall"] for p in c["parts"] if "functionCall" in p]


def _responses(c: Json) -> list[Json]:
    return [p["functionResponse"] for p in c["parts"] if "functionResponse" in p]


def _pairing(contents: list[Json]) -> str | None:
    for i, c in enumerate(contents):
        prev = contents[i - 1] if i else None
        if _calls(c) and (prev is None or prev["role"] != "user"):
            return ("Please ensure that function call turn comes immediately after a user turn or after a "
                    "function response turn.")
        responses = _responses(c)
        if not responses:
            continue
        if c["role"] != "user" or prev is None or not _calls(prev):
            return ("Please ensure that function response turn comes immediately after a function call turn.")
        calls = _calls(prev)
        if len(calls) != len(responses):
            return ("Please ensure that the number of function response parts is equal to the number of function "
                    "call parts of the function call turn.")
        names = {fc["name"] for fc in calls}
        ids = {fc.get("id") for fc in calls if fc.get("id")}
        for fr in responses:
            if fr["name"] not in names:
                return f"Function response name `{fr['name']}` does not match any function call of the previous turn."
            if ids and fr.get("id") and fr["id"] not in ids:
                return "functionResponse.id does not match functionCall.id"
    return None


def current_turn_start(contents: list[Json]) -> int:
    """Index after the last user content with standard (non function response) content."""
    start = 0
    for i, c in enumerate(contents):
        if c["role"] == "user" and any("functionResponse" not in p for p in c["parts"]):
            start = i + 1
    return start


def _signatures(contents: list[Json], strict: bool, known: Callable[[str], bool]) -> str | None:
    for c in contents:
        for p in c["parts"]:
            sig = p.get("thoughtSignature")
            if sig is not None and (not isinstance(sig, str) or not (sig == SKIP_SIGNATURE or known(sig))):
                return "Corrupted thought signature."
    if not strict:
        return None
    for i, c in enumerate(contents):
        if i < current_turn_start(contents) or c["role"] != "model":
            continue
        first = next((p for p in c["parts"] if "functionCall" in p), None)
        if first is not None and "thoughtSignature" not in first:
            return (f"Function call `{first['functionCall']['name']}` in the {i + 1}. content block is missing a "
                    "`thought_signature`. Learn more: https://ai.google.dev/gemini-api/docs/thought-signatures")
    return None


def _system(si: Any) -> str | None:
    if si is None:
        return None
    if not isinstance(si, dict) or not isinstance(si.get("parts"), list):
        return "Invalid value at 'system_instruction': expected a Content"
    for j, p in enumerate(si["parts"]):
        if (err := _part(p, f"system_instruction.parts[{j}]")) is not None:
            return err
    return None


def _tools(tools: Any) -> str | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "Invalid value at 'tools': expected a list"
    for i, t in enumerate(tools):
        for j, d in enumerate(t.get("functionDeclarations") or []):
            where = f"tools[{i}].function_declarations[{j}]"
            if not isinstance(d.get("name"), str) or not _NAME.match(d["name"]):
                return f"* GenerateContentRequest.{where}.name: Invalid function name."
            if "parameters" in d and "parametersJsonSchema" in d:
                return f"* GenerateContentRequest.{where}: parameters and parameters_json_schema are exclusive"
            if "parameters" in d and (err := _openapi(d["parameters"], f"{where}.parameters")) is not None:
                return err
            if "$schema" in (d.get("parametersJsonSchema") or {}):
                return _unknown("$schema", f"{where}.parameters_json_schema")
    return None


def _openapi(schema: Any, where: str) -> str | None:
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key not in _OPENAPI:
            return _unknown(key, where)
        subs = value.values() if key == "properties" and isinstance(value, dict) else (
            [value] if key == "items" else value if key == "anyOf" and isinstance(value, list) else [])
        for sub in subs:
            if (err := _openapi(sub, where)) is not None:
                return err
    return None


def _tool_config(tc: Any, tools: Any) -> str | None:
    if tc is None:
        return None
    fcc = tc.get("functionCallingConfig") or {}
    mode = fcc.get("mode", "AUTO")
    if mode not in ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"):
        return f"Invalid value at 'tool_config.function_calling_config.mode' ({mode})"
    allowed = fcc.get("allowedFunctionNames")
    if allowed:
        if mode != "ANY":
            return "allowed_function_names may only be set when mode is ANY."
        declared = {d.get("name") for t in tools or [] for d in t.get("functionDeclarations") or []}
        missing = [n for n in allowed if n not in declared]
        if missing:
            return f"allowed_function_names contains a function that is not declared: {missing[0]}"
    return None


def _generation(gen: Any, budget_model: bool) -> str | None:
    if gen is None:
        return None
    for key in gen:
        if key not in _GEN:
            return _unknown(key, "generation_config")
    if "responseSchema" in gen and "responseJsonSchema" in gen:
        return "response_schema and response_json_schema cannot both be set."
    if "responseJsonSchema" in gen and gen.get("responseMimeType") != "application/json":
        return "response_json_schema requires response_mime_type application/json."
    if "$schema" in (gen.get("responseJsonSchema") or {}):
        return _unknown("$schema", "generation_config.response_json_schema")
    if len(gen.get("stopSequences") or []) > 5:
        return "The number of stop sequences must be at most 5."
    tc = gen.get("thinkingConfig") or {}
    for key in tc:
        if key not in _THINKING:
            return _unknown(key, "generation_config.thinking_config")
    if "thinkingBudget" in tc and "thinkingLevel" in tc:
        return "You can only set one of thinking budget and thinking level."
    if "thinkingLevel" in tc and budget_model:
        return "Thinking level is not supported for this model."
    if "thinkingLevel" in tc and tc["thinkingLevel"] not in ("MINIMAL", "LOW", "MEDIUM", "HIGH"):
        return f"Invalid value at 'generation_config.thinking_config.thinking_level' ({tc['thinkingLevel']})"
    return None
