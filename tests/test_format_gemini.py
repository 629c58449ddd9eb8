"""The Gemini provider format: golden request/response/stream files, validation against the
google-genai SDK's models, call/result pairing (peers §3.3 #6) and thought signatures."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.genai import types as gt
from hypothesis import given, settings
from hypothesis import strategies as st

from lockgate import ir
from lockgate.errors import TranslationError
from lockgate.formats.gemini import FORMAT
from lockgate.formats.gemini.request import SKIP_SIGNATURE
from lockgate.formats.sse import SseReader
from tests.fakes.gemini_validate import validate

GOLDEN = Path(__file__).parent / "golden" / "gemini"
SIG_A = "CiQBcsjafHkZlz0qE1WtmHDZ6Zrp8ggaSWxHc2bJrYUo4zIMeJ0SbQ=="  # opaque bytes as the API sends them
SIG_B = "EpYCCpMCAcu98PDyUQRvK5Jf1m8HpIPzqIe+IwhYyq3qnrd9sJWexHMr"


def golden(name: str) -> Any:
    return orjson.loads((GOLDEN / name).read_bytes())


def sdk_valid(body: dict[str, Any]) -> None:
    """The body parses as the SDK's request models (extra fields forbidden)."""
    for c in body["contents"]:
        gt.Content.model_validate_json(orjson.dumps(c))
    config = dict(body.get("generationConfig") or {})
    for key in ("systemInstruction", "tools", "toolConfig"):
        if key in body:
            config[key] = body[key]
    gt.GenerateContentConfig.model_validate_json(orjson.dumps(config))


def user(text: str) -> ir.Message:
    return ir.Message("user", [ir.Text(text)])


WEATHER = ir.Tool("get_weather", "Current weather for a city.", {
    "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
    "required": ["city"], "additionalProperties": False})
TIME = ir.Tool("get_time", "Local time.", {"type": "object", "properties": {"tz": {"type": "string"}}})


def text_request() -> ir.Request:
    return ir.Request(
        model="gemini-2.5-flash", system=[ir.Text("You are terse.")],
        messages=[user("Hello"), ir.Message("assistant", [ir.Text("Hi.")]),
                  ir.Message("developer", [ir.Text("Answer in French.")]), user("How are you?")],
        max_output_tokens=256, temperature=0.2, top_p=0.9, top_k=40, stop=["END"],
        metadata={"trace": "x"}, user="u1")


def tools_request() -> ir.Request:
    # An assistant turn mixing text and two parallel calls; results come back in reverse
    # order, one without its function name (peers #6); a later user text.
    return ir.Request(
        model="gemini-3-pro-preview",
        messages=[
            user("Weather and time in Paris?"),
            ir.Message("assistant", [
                ir.Text("Let me check."),
                ir.ToolCall("call_w", "get_weather", '{"city": "Paris"}', extra={"thoughtSignature": SIG_A}),
                ir.ToolCall("call_t", "get_time", '{"tz": "Europe/Paris"}'),
            ]),
            ir.Message("tool", [ir.ToolResult("call_t", "14:05")]),
            ir.Message("tool", [ir.ToolResult("call_w", [ir.Text("18C, cloudy")], name="get_weather")]),
            ir.Message("assistant", [ir.ToolCall("call_w2", "get_weather", '{"city": "Lyon"}')]),
            ir.Message("tool", [ir.ToolResult("call_w2", "not found", is_error=True)]),
        ],
        tools=[WEATHER, TIME], tool_choice=ir.ToolChoice("tool", "get_weather"), parallel_tool_calls=True)


def image_request() -> ir.Request:
    return ir.Request(model="gemini-2.5-flash", messages=[ir.Message("user", [
        ir.Text("Compare these."),
        ir.Image(data="iVBORw0KGgo=", media_type="image/png"),
        ir.Image(url="data:image/jpeg;base64,/9j/4AAQ"),
        ir.Image(url="https://example.com/cat.webp"),
        ir.File(data="JVBERi0xLjQ=", media_type="application/pdf", filename="a.pdf"),
        ir.File(file_id="https://generativelanguage.googleapis.com/v1beta/files/abc123"),
    ])])


def thinking_request() -> ir.Request:
    return ir.Request(
        model="gemini-3-flash-preview", thinking_budget=2048,
        response_format=ir.ResponseFormat("json_schema", name="answer", schema={
            "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"answer": {"type": "string"}}, "required": ["answer"]}),
        messages=[
            user("What is 2+2?"),
            ir.Message("assistant", [
                ir.Reasoning(text="Simple arithmetic.", signature=SIG_B, source="gemini"),
                ir.Reasoning(text="foreign", signature="sig-anthropic", source="anthropic_messages"),
                ir.Text('{"answer": "4"}', extra={"thoughtSignature": SIG_A}),
            ]),
            user("And 3+3?"),
        ])


REQUESTS = {"text": text_request, "tools": tools_request, "image": image_request, "thinking": thinking_request}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_golden(name: str) -> None:
    body = FORMAT.encode_request(REQUESTS[name]())
    assert body == golden(f"request_{name}.json")
    sdk_valid(body)


# -- responses ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["response_text.json", "response_tools.json", "response_thinking.json",
                                  "response_blocked.json", "response_max_tokens.json"])
def test_golden_responses_are_sdk_valid(name: str) -> None:
    gt.GenerateContentResponse.model_validate_json((GOLDEN / name).read_bytes())


def test_decode_text() -> None:
    r = FORMAT.decode_response(golden("response_text.json"))
    assert (r.id, r.model, r.finish_reason, r.source) == ("mB3haJ2lK6qcz7IPz6K0uAE", "gemini-2.5-flash", "stop",
                                                          "gemini")
    assert r.content == [ir.Text("Bonjour ! Je vais bien, merci.")]
    assert r.usage == ir.Usage(input_tokens=21, output_tokens=9)
    assert r.extra == {"finishReason": "STOP"}


def test_decode_tools_without_ids_generates_stable_unique_ids() -> None:
    body = golden("response_tools.json")
    r = FORMAT.decode_response(body)
    assert r.finish_reason == "tool_calls"
    text, weather, time = r.content
    assert text == ir.Text("Let me check.")
    assert isinstance(weather, ir.ToolCall) and isinstance(time, ir.ToolCall)
    assert (weather.name, orjson.loads(weather.arguments)) == ("get_weather", {"city": "Paris"})
    assert weather.extra == {"thoughtSignature": SIG_A} and time.extra == {}
    assert weather.call_id != time.call_id
    assert weather.call_id.startswith("call_") and weather.call_id.endswith("_0") and time.call_id.endswith("_1")
    again = FORMAT.decode_response(golden("response_tools.json"))
    assert [p.call_id for p in again.content[1:]] == [weather.call_id, time.call_id]  # type: ignore[union-attr]
    other = FORMAT.decode_response({**body, "responseId": "another"})
    assert other.content[1].call_id != weather.call_id  # type: ignore[union-attr]
    # Output counts the thoughts; reasoning reported apart.
    assert r.usage == ir.Usage(input_tokens=120, output_tokens=70, reasoning_tokens=40)


def test_decode_thinking() -> None:
    r = FORMAT.decode_response(golden("response_thinking.json"))
    assert r.content == [
        ir.Reasoning(text="**Adding numbers**\n\nTwo plus two is four.", signature=SIG_B, source="gemini"),
        ir.Text('{"answer": "4"}', extra={"thoughtSignature": SIG_A}),
    ]
    assert r.usage == ir.Usage(input_tokens=2100, output_tokens=95, cached_input_tokens=2048, reasoning_tokens=88)


def test_decode_blocked_prompt_and_max_tokens() -> None:
    blocked = FORMAT.decode_response(golden("response_blocked.json"))
    assert (blocked.finish_reason, blocked.content) == ("content_filter", [])
    assert blocked.extra["promptFeedback"]["blockReason"] == "SAFETY"
    assert FORMAT.decode_response(golden("response_max_tokens.json")).finish_reason == "length"


@pytest.mark.parametrize(("raw", "calls", "want"), [
    ("STOP", False, "stop"), ("STOP", True, "tool_calls"), ("MAX_TOKENS", True, "length"),
    ("SAFETY", False, "content_filter"), ("RECITATION", False, "content_filter"),
    ("PROHIBITED_CONTENT", False, "content_filter"), ("MALFORMED_FUNCTION_CALL", False, "error"),
    ("OTHER", False, "stop"), (None, False, "stop"),
])
def test_finish_reasons(raw: str | None, calls: bool, want: str) -> None:
    parts: list[dict[str, Any]] = [{"functionCall": {"name": "f", "args": {}}}] if calls else [{"text": "x"}]
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if raw:
        cand["finishReason"] = raw
    assert FORMAT.decode_response({"candidates": [cand]}).finish_reason == want


# -- streams -----------------------------------------------------------------------------------

def run_stream(raw: bytes, step: int | None = None) -> list[ir.StreamEvent]:
    reader, dec = SseReader(), FORMAT.stream_decoder()
    out: list[ir.StreamEvent] = []
    pieces = [raw] if step is None else [raw[i:i + step] for i in range(0, len(raw), step)]
    for piece in pieces:
        for name, data in reader.feed(piece):
            out += dec.feed(name, data)
    for name, data in reader.close():
        out += dec.feed(name, data)
    return out + dec.close()


def stream_chunks_are_sdk_valid(raw: bytes) -> None:
    for _, data in SseReader().feed(raw):
        gt.GenerateContentResponse.model_validate_json(data)


def test_stream_text() -> None:
    raw = (GOLDEN / "stream_text.sse").read_bytes()
    stream_chunks_are_sdk_valid(raw)
    assert run_stream(raw) == [
        ir.StreamStart(id="qU7haN_7Apqnz7IPg6LO-Ao", model="gemini-2.5-flash"),
        ir.StreamPartStart(0, ir.Text("")),
        ir.StreamPartDelta(0, "Bonjour"),
        ir.StreamPartDelta(0, " ! Je vais bien,"),
        ir.StreamPartDelta(0, " merci."),
        ir.StreamPartEnd(0, ir.Text("Bonjour ! Je vais bien, merci.")),
        ir.StreamFinish("stop", usage=ir.Usage(input_tokens=12, output_tokens=9)),
    ]


def test_stream_tools() -> None:
    raw = (GOLDEN / "stream_tools.sse").read_bytes()
    stream_chunks_are_sdk_valid(raw)
    events = run_stream(raw)
    weather = ir.ToolCall("8f2kq1xz", "get_weather", '{"city":"Paris"}', extra={"thoughtSignature": SIG_A})
    assert events[1:] == [
        ir.StreamPartStart(0, ir.Text("")),
        ir.StreamPartDelta(0, "Checking both."),
        ir.StreamPartEnd(0, ir.Text("Checking both.")),
        ir.StreamPartStart(1, ir.ToolCall("8f2kq1xz", "get_weather", "")),
        ir.StreamPartDelta(1, '{"city":"Paris"}', kind="arguments"),
        ir.StreamPartEnd(1, weather),
        ir.StreamPartStart(2, ir.ToolCall("3nd0a9pb", "get_time", "")),
        ir.StreamPartDelta(2, '{"tz":"Europe/Paris"}', kind="arguments"),
        ir.StreamPartEnd(2, ir.ToolCall("3nd0a9pb", "get_time", '{"tz":"Europe/Paris"}')),
        ir.StreamFinish("tool_calls", usage=ir.Usage(input_tokens=300, output_tokens=101, reasoning_tokens=60)),
    ]


def test_stream_thinking_signature_on_empty_final_part() -> None:
    raw = (GOLDEN / "stream_thinking.sse").read_bytes()
    stream_chunks_are_sdk_valid(raw)
    events = run_stream(raw)
    ends = [e.part for e in events if isinstance(e, ir.StreamPartEnd)]
    # The signature lands on the text it follows, as in the non-streamed answer.
    assert ends == [ir.Reasoning(text="**Adding numbers**\n\nTwo plus two is four.", source="gemini"),
                    FORMAT.decode_response(golden("response_thinking.json")).content[1]]
    kinds = [e.kind for e in events if isinstance(e, ir.StreamPartDelta)]
    assert kinds == ["reasoning", "reasoning", "text", "text"]
    assert events[-1] == ir.StreamFinish("stop", usage=ir.Usage(input_tokens=2100, output_tokens=95,
                                                                 cached_input_tokens=2048, reasoning_tokens=88))


@pytest.mark.parametrize("step", [1, 7, 64])
def test_stream_any_chunking(step: int) -> None:
    for name in ("stream_text.sse", "stream_tools.sse", "stream_thinking.sse"):
        raw = (GOLDEN / name).read_bytes()
        assert run_stream(raw, step) == run_stream(raw)


def test_stream_without_finish_closes_parts_and_owes_no_finish() -> None:
    raw = b"".join((GOLDEN / "stream_text.sse").read_bytes().split(b"\r\n\r\n")[:2]) + b"\r\n\r\n"
    raw = raw.replace(b"}data:", b"}\r\n\r\ndata:")
    events = run_stream(raw)
    assert isinstance(events[-1], ir.StreamPartEnd) and events[-1].part == ir.Text("Bonjour ! Je vais bien,")
    assert not any(isinstance(e, ir.StreamFinish) for e in events)


def test_stream_error_chunk() -> None:
    dec = FORMAT.stream_decoder()
    dec.feed(None, b'{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"}}],"responseId":"r"}')
    events = dec.feed(None, b'{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}')
    assert events == [ir.StreamPartEnd(0, ir.Text("Hi")),
                      ir.StreamError("The model is overloaded.", code="UNAVAILABLE", status=503)]
    assert dec.close() == []


def test_stream_blocked_prompt() -> None:
    dec = FORMAT.stream_decoder()
    events = dec.feed(None, orjson.dumps(golden("response_blocked.json")))
    assert isinstance(events[0], ir.StreamStart)
    assert events[1] == ir.StreamFinish("content_filter", usage=ir.Usage(input_tokens=8))


# -- pairing and regrouping (peers §3.3 #6) ----------------------------------------------------

def contents_of(*messages: ir.Message, model: str = "gemini-2.5-flash") -> list[dict[str, Any]]:
    return list(FORMAT.encode_request(ir.Request(model=model, messages=list(messages)))["contents"])


def test_peers_6_assistant_text_plus_call_keeps_the_call() -> None:
    contents = contents_of(
        user("List files"),
        ir.Message("assistant", [ir.Text("Sure, listing."), ir.ToolCall("c1", "ls", '{"path": "."}')]),
        ir.Message("tool", [ir.ToolResult("c1", "a.txt")]),
    )
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0] == {"text": "Sure, listing."}
    assert contents[1]["parts"][1]["functionCall"] == {"name": "ls", "args": {"path": "."}, "id": "c1"}
    assert contents[2]["parts"] == [{"functionResponse": {"name": "ls", "response": {"output": "a.txt"}, "id": "c1"}}]


def test_chat_style_split_assistant_messages_merge_into_one_model_turn() -> None:
    # OpenAI chat clients may send text and tool calls as separate assistant messages, and
    # one tool message per result followed by the next user text.
    contents = contents_of(
        user("Go"),
        ir.Message("assistant", [ir.Text("First")]),
        ir.Message("assistant", [ir.ToolCall("a", "f", "{}"), ir.ToolCall("b", "g", "{}")]),
        ir.Message("tool", [ir.ToolResult("a", "1")]),
        ir.Message("tool", [ir.ToolResult("b", "2")]),
        user("thanks"),
    )
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert [next(iter(p)) for p in contents[1]["parts"]] == ["text", "functionCall", "functionCall"]
    assert [next(iter(p)) for p in contents[2]["parts"]] == ["functionResponse", "functionResponse", "text"]


def test_results_are_ordered_like_their_calls_and_text_follows() -> None:
    contents = contents_of(
        user("Go"),
        ir.Message("assistant", [ir.ToolCall("a", "f", "{}"), ir.ToolCall("b", "g", "{}")]),
        ir.Message("user", [ir.Text("note")]),
        ir.Message("tool", [ir.ToolResult("b", "2"), ir.ToolResult("a", "1")]),
    )
    assert [p.get("functionResponse", {}).get("id") for p in contents[2]["parts"]] == ["a", "b", None]


def test_tool_result_with_images_keeps_them_in_the_user_turn() -> None:
    contents = contents_of(
        user("Screenshot?"),
        ir.Message("assistant", [ir.ToolCall("s", "shot", "{}")]),
        ir.Message("tool", [ir.ToolResult("s", [ir.Text("done"), ir.Image(data="AAAA", media_type="image/png")])]),
    )
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "shot", "response": {"output": "done"}, "id": "s"}},
        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
    ]


def test_result_without_name_or_call_is_a_clear_error() -> None:
    with pytest.raises(TranslationError, match=r"'lost'.*function name"):
        contents_of(user("x"), ir.Message("tool", [ir.ToolResult("lost", "?")]))


def test_custom_tool_call_and_bad_arguments() -> None:
    contents = contents_of(user("patch"), ir.Message("assistant", [
        ir.ToolCall("p", "apply_patch", "*** Begin Patch\n*** End Patch", kind="custom")]))
    assert contents[1]["parts"][0]["functionCall"]["args"] == {"input": "*** Begin Patch\n*** End Patch"}
    with pytest.raises(TranslationError, match="not JSON"):
        contents_of(user("x"), ir.Message("assistant", [ir.ToolCall("q", "f", "{broken")]))
    with pytest.raises(TranslationError, match="not a JSON object"):
        contents_of(user("x"), ir.Message("assistant", [ir.ToolCall("q", "f", "[1]")]))


# -- thought signatures ------------------------------------------------------------------------

def test_signatures_round_trip_byte_exact() -> None:
    """A Gemini answer decoded to IR and sent back as history carries every signature on the
    part that had it."""
    resp = FORMAT.decode_response(golden("response_tools.json"))
    calls = [p for p in resp.content if isinstance(p, ir.ToolCall)]
    req = ir.Request(model="gemini-2.5-pro", messages=[
        user("Weather and time in Paris?"),
        ir.Message("assistant", resp.content),
        ir.Message("tool", [ir.ToolResult(c.call_id, "ok") for c in calls]),
    ])
    model_turn = FORMAT.encode_request(req)["contents"][1]
    assert model_turn["parts"] == [
        {"text": "Let me check."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": calls[0].call_id},
         "thoughtSignature": SIG_A},
        {"functionCall": {"name": "get_time", "args": {"tz": "Europe/Paris"}, "id": calls[1].call_id}},
    ]
    thinking = FORMAT.decode_response(golden("response_thinking.json"))
    again = FORMAT.encode_request(ir.Request(model="gemini-3-flash-preview", messages=[
        user("What is 2+2?"), ir.Message("assistant", thinking.content)]))
    assert again["contents"][1]["parts"] == golden("response_thinking.json")["candidates"][0]["content"]["parts"]


def test_foreign_history_gets_the_placeholder_only_in_the_current_turn() -> None:
    contents = contents_of(
        user("old question"),
        ir.Message("assistant", [ir.ToolCall("o1", "f", "{}")]),
        ir.Message("tool", [ir.ToolResult("o1", "r")]),
        ir.Message("assistant", [ir.Text("old answer")]),
        user("new question"),
        ir.Message("assistant", [ir.ToolCall("n1", "f", "{}"), ir.ToolCall("n2", "f", "{}")]),
        ir.Message("tool", [ir.ToolResult("n1", "r"), ir.ToolResult("n2", "r")]),
        ir.Message("assistant", [ir.ToolCall("n3", "g", "{}", extra={"thoughtSignature": SIG_A})]),
        ir.Message("tool", [ir.ToolResult("n3", "r")]),
        model="gemini-3-pro-preview",
    )
    signed = [(p["functionCall"]["id"], p.get("thoughtSignature")) for c in contents for p in c["parts"]
              if "functionCall" in p]
    assert signed == [("o1", None), ("n1", SKIP_SIGNATURE), ("n2", None), ("n3", SIG_A)]


def test_empty_text_is_left_out_unless_signed() -> None:
    contents = contents_of(
        ir.Message("user", [ir.Text(""), ir.Text("q")]), ir.Message("assistant", [ir.Text("")]),
        ir.Message("user", [ir.Text("")]),
        ir.Message("assistant", [ir.Text("a"), ir.Text("", extra={"thoughtSignature": SIG_A})]))
    assert contents == [{"role": "user", "parts": [{"text": "q"}]},
                        {"role": "model", "parts": [{"text": "a"}, {"text": "", "thoughtSignature": SIG_A}]}]


def test_foreign_reasoning_is_dropped() -> None:
    contents = contents_of(user("q"), ir.Message("assistant", [
        ir.Reasoning(text="hidden", signature="x", source="anthropic_messages"),
        ir.Reasoning(encrypted="gAAAA", source="openai_responses"), ir.Text("a")]))
    assert contents[1]["parts"] == [{"text": "a"}]


# -- tools, tool choice, generation config -----------------------------------------------------

def encode(**kw: Any) -> dict[str, Any]:
    kw.setdefault("model", "gemini-2.5-flash")
    body = FORMAT.encode_request(ir.Request(messages=[user("hi")], **kw))
    sdk_valid(body)
    return body


@pytest.mark.parametrize(("choice", "want"), [
    (ir.ToolChoice("auto"), {"mode": "AUTO"}), (ir.ToolChoice("none"), {"mode": "NONE"}),
    (ir.ToolChoice("required"), {"mode": "ANY"}),
    (ir.ToolChoice("tool", "get_time"), {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
])
def test_tool_choice(choice: ir.ToolChoice, want: dict[str, Any]) -> None:
    body = encode(tools=[WEATHER, TIME], tool_choice=choice)
    assert body["toolConfig"] == {"functionCallingConfig": want}


def test_tool_without_parameters_and_custom_tool() -> None:
    body = encode(tools=[ir.Tool("ping"), ir.Tool("apply_patch", "Patch files.", kind="custom")])
    assert body["tools"] == [{"functionDeclarations": [
        {"name": "ping"},
        {"name": "apply_patch", "description": "Patch files.", "parametersJsonSchema": {
            "type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}},
    ]}]


def test_builtin_tools() -> None:
    assert encode(builtin_tools=[ir.BuiltinTool("web_search", {"type": "web_search"}, "openai_responses")]
                  )["tools"] == [{"googleSearch": {}}]
    with pytest.raises(TranslationError, match="local_shell"):
        encode(builtin_tools=[ir.BuiltinTool("local_shell", {"type": "local_shell"}, "openai_responses")])


def test_json_object_and_stop_limit() -> None:
    assert encode(response_format=ir.ResponseFormat("json_object"))["generationConfig"] == {
        "responseMimeType": "application/json"}
    assert "generationConfig" not in encode(response_format=ir.ResponseFormat("text"))
    with pytest.raises(TranslationError, match="at most 5"):
        encode(stop=list("abcdef"))


@pytest.mark.parametrize(("model", "kw", "want"), [
    ("gemini-2.5-flash", {"thinking_budget": 4096}, {"thinkingBudget": 4096, "includeThoughts": True}),
    ("gemini-2.5-flash", {"thinking_budget": 0}, {"thinkingBudget": 0}),
    ("gemini-2.5-pro", {"reasoning_effort": "high", "reasoning_summary": "auto"},
     {"thinkingBudget": 24576, "includeThoughts": True}),
    ("gemini-2.5-flash", {"reasoning_effort": "none", "reasoning_summary": "auto"}, {"thinkingBudget": 0}),
    ("gemini-3-pro-preview", {"reasoning_effort": "low"}, {"thinkingLevel": "LOW"}),
    ("gemini-3-flash-preview", {"reasoning_effort": "minimal"}, {"thinkingLevel": "MINIMAL"}),
    ("gemini-flash-latest", {"reasoning_effort": "xhigh", "reasoning_summary": "detailed"},
     {"thinkingLevel": "HIGH", "includeThoughts": True}),
    ("gemini-3-pro-preview", {"thinking_budget": 32000}, {"thinkingLevel": "HIGH", "includeThoughts": True}),
])
def test_thinking_config(model: str, kw: dict[str, Any], want: dict[str, Any]) -> None:
    assert encode(model=model, **kw)["generationConfig"]["thinkingConfig"] == want


# -- property: any agent history stays paired and valid ----------------------------------------

@st.composite
def agent_histories(draw: st.DrawFn) -> list[ir.Message]:
    msgs: list[ir.Message] = []
    n = 0
    for _ in range(draw(st.integers(1, 4))):
        msgs.append(user(draw(st.sampled_from(["go", "next", "why?"]))))
        for _step in range(draw(st.integers(0, 3))):
            k = draw(st.integers(1, 3))
            calls = [ir.ToolCall(f"id{n + i}", draw(st.sampled_from(["f", "g"])), "{}") for i in range(k)]
            n += k
            lead: list[ir.Part] = [ir.Text("thinking aloud")] if draw(st.booleans()) else []
            if draw(st.booleans()):  # chat style: text and calls as separate messages
                msgs += [ir.Message("assistant", lead)] if lead else []
                msgs.append(ir.Message("assistant", list(calls)))
            else:
                msgs.append(ir.Message("assistant", lead + list(calls)))
            results = [ir.ToolResult(c.call_id, "ok", name=c.name if draw(st.booleans()) else None) for c in calls]
            results = draw(st.permutations(results))
            if draw(st.booleans()):
                msgs += [ir.Message("tool", [r]) for r in results]
            else:
                msgs.append(ir.Message("tool", list(results)))
        if draw(st.booleans()):
            msgs.append(ir.Message("assistant", [ir.Text("done")]))
    return msgs


@given(agent_histories())
@settings(max_examples=150, deadline=None)
def test_every_call_and_result_survives_paired(history: list[ir.Message]) -> None:
    body = FORMAT.encode_request(ir.Request(model="gemini-3-pro-preview", messages=history))
    contents = body["contents"]
    roles = [c["role"] for c in contents]
    assert all(a != b for a, b in pairwise(roles))
    calls_in = [p.call_id for m in history for p in m.parts if isinstance(p, ir.ToolCall)]
    calls_out = [p["functionCall"]["id"] for c in contents for p in c["parts"] if "functionCall" in p]
    results_out = [p["functionResponse"]["id"] for c in contents for p in c["parts"] if "functionResponse" in p]
    assert calls_out == calls_in and results_out == calls_in  # none dropped, results in call order
    assert validate(body, strict_signatures=True, budget_model=False, known_signature=lambda s: False) is None
