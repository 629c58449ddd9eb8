"""Shared helpers of the OpenAI Responses format tests (fixtures, SDK validation of streams)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from lockgate import ir
from lockgate.formats.openai_responses import FORMAT, ResponsesFormat
from lockgate.formats.sse import SseReader

GOLDEN = Path(__file__).parent / "golden" / "openai_responses"
CAPTURES = sorted((GOLDEN / "codex").glob("*.json"))
EVENT = TypeAdapter(ResponseStreamEvent)


def load(name: str) -> Any:
    return orjson.loads((GOLDEN / name).read_bytes())


def codex(name: str) -> Any:
    return orjson.loads((GOLDEN / "codex" / f"{name}.json").read_bytes())


def sse_pairs(raw: bytes) -> list[tuple[str | None, bytes]]:
    reader = SseReader()
    return reader.feed(raw) + reader.close()


def run_encoder(req: ir.Request, events: list[ir.StreamEvent], *, finish: bool = True,
                provider: str | None = None, fmt: ResponsesFormat = FORMAT) -> list[dict[str, Any]]:
    enc = fmt.stream_encoder(req, provider=provider)
    raw = b"".join(enc.feed(e) for e in events)
    if finish:
        raw += enc.finish()
    out = []
    for name, data in sse_pairs(raw):
        payload = orjson.loads(data)
        assert name == payload["type"]
        out.append(payload)
    return out


def accumulate(req_body: dict[str, Any], events: list[dict[str, Any]]) -> Response:
    """Parse every event with the SDK's types and fold them with its own stream state."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=req_body.get("tools", []), text_format=omit)
    for i, e in enumerate(events):
        assert e["sequence_number"] == i
        state.handle_event(EVENT.validate_python(e))
    final = state._completed_response
    assert final is not None
    return final


def simple_request(**kw: Any) -> ir.Request:
    return FORMAT.decode_request({"model": "gpt-5.5", "input": "hi", "stream": True, **kw})


def codex_echo(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Codex sends back next turn: items re-serialised from its own model, so unknown
    fields are lost; reasoning encrypted_content and call_id verbatim."""
    keep = {"reasoning": ("type", "id", "summary", "content", "encrypted_content"),
            "function_call": ("type", "id", "status", "name", "arguments", "call_id", "namespace"),
            "custom_tool_call": ("type", "id", "status", "name", "input", "call_id"),
            "message": ("type", "id", "status", "role", "content", "phase")}
    return [{k: v for k, v in item.items() if k in keep[item["type"]]} for item in output]
