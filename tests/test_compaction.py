"""Codex's remote compaction (the SDKs' built-in provider path) on providers that are not OpenAI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes.openai_upstream import sse_events
from tests.gateway_proc import GatewayProcess

CAPTURE = Path(__file__).parent / "golden" / "openai_responses" / "codex" / "compaction_remote_v2_req.json"
PROVIDERS = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash", "chat-only": "local-qwen",
             "bedrock": "bedrock-claude"}


def _post(gw: GatewayProcess, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{gw.url}/responses", content=orjson.dumps(body), timeout=30,
                      headers={"authorization": f"Bearer {gw.key}", "content-type": "application/json"})


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_compaction_trigger_gets_exactly_one_compaction_item(tgw: GatewayProcess, fakes: dict[str, Any],
                                                            provider: str, stream: bool) -> None:
    body = orjson.loads(CAPTURE.read_bytes())
    assert body["input"][-1] == {"type": "compaction_trigger"}
    body["model"], body["stream"] = PROVIDERS[provider], stream
    r = _post(tgw, body)
    assert r.status_code == 200
    if stream:
        events = [(name, orjson.loads(data)) for name, data in sse_events(r.content)]
        assert [n for n, _ in events][-1] == "response.completed"
        response = events[-1][1]["response"]
    else:
        response = r.json()
    output = response["output"]
    # Codex: "remote compaction v2 expected exactly one compaction output item".
    assert [o["type"] for o in output] == ["compaction"]
    assert output[0]["encrypted_content"] and response["usage"]["input_tokens"] > 0
    asked = orjson.dumps(fakes[provider].requests[-1].json())
    assert b"CONTEXT CHECKPOINT COMPACTION" in asked and b"compaction_trigger" not in asked

    # The next turn starts from the compaction item: the provider sees the summary, not an opaque blob.
    follow = {"model": PROVIDERS[provider], "input": [output[0], {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "continue"}]}], "stream": False}
    r2 = _post(tgw, follow)
    assert r2.status_code == 200 and r2.json()["status"] == "completed"
    sent = orjson.dumps(fakes[provider].requests[-1].json())
    assert b"produced a summary of its work so far" in sent and b"lgc1." not in sent
