"""WebSocket mode of /v1/responses, with a real `websockets` client against a real lockgate process.

Frames are what Codex 0.169 / the Python SDK 0.163 send (tests/golden/openai_responses/codex/
*_frame*.json); the upstreams are the protocol-true fakes, which record what reached them.
"""

from __future__ import annotations

import copy
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_proc import GatewayProcess
from tests.ws_client import completed, create, items_done, log_row, open_ws, turn, user, ws_url

GOLDEN = Path(__file__).parent / "golden" / "openai_responses" / "codex"


def golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((GOLDEN / name).read_bytes())
    return data


@pytest.fixture(scope="module")
def gw(tgw: GatewayProcess) -> GatewayProcess:
    return tgw


# -- Codex's own frames --------------------------------------------------------------------------

def test_prewarm_makes_no_upstream_call(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    before = len(fake.requests)
    frame = golden("ws_exec_session_frame1.json")
    assert frame["generate"] is False
    with open_ws(gw) as ws:
        events = turn(ws, frame)
    assert [e["type"] for e in events] == ["response.created", "response.completed"]
    resp = completed(events)
    assert resp["id"].startswith("resp_") and resp["output"] == [] and resp["model"] == "gpt-5.5"
    assert resp["usage"]["total_tokens"] == 0
    assert events[0]["response"]["id"] == resp["id"]
    assert len(fake.requests) == before
    assert gw.rows(response_id=resp["id"]) == []  # no model call, no log row


def test_codex_exec_session_replayed(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    """Prewarm, then two chained turns with only the delta input, as `codex exec` sends them."""
    f1, f2, f3 = (golden(f"ws_exec_session_frame{i}.json") for i in (1, 2, 3))
    with open_ws(gw) as ws:
        warm = completed(turn(ws, f1))
        f2["previous_response_id"] = warm["id"]
        ev2 = turn(ws, f2)
        r2 = completed(ev2)
        sent2 = fake.requests[-1].json()
        f3["previous_response_id"] = r2["id"]
        ev3 = turn(ws, f3)
        r3 = completed(ev3)
        sent3 = fake.requests[-1].json()
    # The upstream got whole conversations over HTTPS, never a previous_response_id or a WS-only field.
    assert sent2["input"] == f1["input"] + f2["input"]
    assert sent3["input"] == f1["input"] + f2["input"] + items_done(ev2) + f3["input"]
    for sent, frame in ((sent2, f2), (sent3, f3)):
        assert not {"type", "generate", "previous_response_id"} & sent.keys()
        assert sent["stream"] is True
        assert sent["tools"] == frame["tools"] and sent["client_metadata"] == frame["client_metadata"]
    # Reasoning comes back byte for byte: Codex never resends it on a chained turn.
    reasoning = [i for i in items_done(ev2) if i["type"] == "reasoning"]
    assert reasoning and reasoning[0] in sent3["input"]
    # One event per frame, the full SSE sequence.
    kinds = [e["type"] for e in ev3]
    assert kinds[0] == "response.created" and "response.output_item.done" in kinds
    # Per turn, headers as over HTTPS: the turn metadata of the frame, not of the upgrade.
    hdrs = fake.requests[-1].headers
    assert hdrs["x-codex-turn-metadata"] == f3["client_metadata"]["x-codex-turn-metadata"]
    assert "sec-websocket-key" not in hdrs and "openai-beta" not in hdrs
    # Each turn is one log row, like an HTTPS request.
    for r in (r2, r3):
        row = log_row(gw, r["id"])
        assert (row["api"], row["method"], row["path"], row["status"]) == ("responses", "POST", "/v1/responses", 200)
        assert row["provider"] == "openai" and row["model_requested"] == "gpt-5.5"
        assert row["input_tokens"] == r["usage"]["input_tokens"]


def test_python_sdk_frames_replayed(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    """The Python SDK: main thread (prewarm + two chained turns) and the guardian's prewarm."""
    f1, f2, f3, f4 = (golden(f"sdk_py_ws_session_frame{i}.json") for i in (1, 2, 3, 4))
    with open_ws(gw) as ws:
        warm = completed(turn(ws, f1))
        f3["previous_response_id"] = warm["id"]
        r3 = completed(turn(ws, f3))
        f4["previous_response_id"] = r3["id"]
        r4 = completed(turn(ws, f4))
        sent = fake.requests[-1].json()
    assert sent["input"][: len(f1["input"]) + len(f3["input"])] == f1["input"] + f3["input"]
    assert sent["input"][-1] == f4["input"][-1] and r4["status"] == "completed"
    with open_ws(gw, **{"x-openai-subagent": "guardian"}) as ws:
        events = turn(ws, f2)
    assert completed(events)["model"] == f2["model"]


# -- chained turns to every kind of upstream ---------------------------------------------------

@pytest.mark.parametrize("model,upstream", [("gpt-5-mini", "openai"), ("claude-sonnet-4-5", "anthropic"),
                                            ("local-qwen3", "chat-only"), ("gemini-2.5-flash", "gemini")])
def test_chained_session_any_provider(gw: GatewayProcess, fake: FakeOpenAI, fakes: dict[str, Any], model: str,
                                      upstream: str) -> None:
    with open_ws(gw) as ws:
        warm = completed(turn(ws, create(model, [{"type": "message", "role": "developer", "content": [
            {"type": "input_text", "text": "You are terse."}]}], generate=False)))
        ev1 = turn(ws, create(model, [user("first question")], warm["id"]))
        r1 = completed(ev1)
        text1 = items_done(ev1)[-1]["content"][0]["text"]
        ev2 = turn(ws, {"type": "response.create", "previous_response_id": r1["id"],  # model-less frame
                        "input": [user("second question")], "store": False})
        r2 = completed(ev2)
    recorder = fake if upstream == "openai" else fakes[upstream]
    sent = recorder.requests[-1].json()
    blob = orjson.dumps(sent).decode()
    for part in ("You are terse.", "first question", text1, "second question"):
        assert part in blob, f"{part!r} missing upstream"
    assert blob.index("first question") < blob.index(text1) < blob.index("second question")
    if upstream == "openai":
        assert [i.get("role") for i in sent["input"]] == ["developer", "user", "assistant", "user"]
    elif upstream in ("anthropic", "chat-only"):
        msgs = [m["role"] for m in sent["messages"] if m["role"] != "system"]
        assert msgs == ["user", "assistant", "user"]
    for r in (r1, r2):
        row = log_row(gw, r["id"])
        assert row["api"] == "responses" and row["status"] == 200 and row["model_requested"] == model


def test_unknown_previous_id_is_an_error_event(gw: GatewayProcess) -> None:
    with open_ws(gw) as ws:
        events = turn(ws, create("gpt-5-mini", [user("hi")], "resp_nope"))
        assert len(events) == 1
        err = events[0]
        assert err["type"] == "error" and err["status"] == 400
        assert err["error"]["code"] == "previous_response_not_found"
        assert err["error"]["param"] == "previous_response_id"
        # The connection survives: a full request works next.
        assert completed(turn(ws, create("gpt-5-mini", [user("hi")])))["status"] == "completed"


def test_bad_frames_keep_the_connection(gw: GatewayProcess) -> None:
    with open_ws(gw) as ws:
        ws.send("not json")
        assert orjson.loads(ws.recv(timeout=10))["error"]["code"] == "invalid_json"
        ws.send('{"type":"response.cancel"}')
        assert orjson.loads(ws.recv(timeout=10))["error"]["code"] == "unknown_event_type"
        ws.send('{"type":"response.processed","response_id":"resp_x"}')  # acknowledged silently
        events = turn(ws, create("no-such-model-xyz", [user("hi")]))
        assert events[-1]["type"] == "error" and events[-1]["status"] == 404
        assert completed(turn(ws, create("gpt-5-mini", [user("hi")])))["status"] == "completed"


# -- the upgrade -------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["sk-wrong-key-123", None])
def test_bad_key_refuses_the_upgrade(gw: GatewayProcess, key: str | None) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(gw), additional_headers=headers, open_timeout=10)
    resp = info.value.response
    assert resp.status_code == 401
    body = orjson.loads(resp.body)
    assert body["error"]["type"] == "invalid_request_error" and "key" in body["error"]["message"]


def test_unknown_ws_path_is_404(gw: GatewayProcess) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{gw.port}/v1/chat/completions",
                additional_headers={"Authorization": f"Bearer {gw.key}"}, open_timeout=10)
    assert info.value.response.status_code == 404


def test_setting_off_answers_426(gateway_factory: Callable[..., GatewayProcess]) -> None:
    off = gateway_factory(extra="[server]\nwebsockets = false\n")
    with pytest.raises(InvalidStatus) as info:
        open_ws(off)
    assert info.value.response.status_code == 426
    assert orjson.loads(info.value.response.body)["error"]["code"] == "websocket_not_supported"


# -- errors and disconnects (the default gateway routes fake-* models to the failing fake) ---------

@pytest.fixture(scope="module")
def plain(gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    return gateway_factory()


def test_upstream_429_is_an_error_event_with_retry_after(plain: GatewayProcess) -> None:
    with open_ws(plain) as ws:
        events = turn(ws, create("fake-error-429", [user("hi")]))
    assert len(events) == 1
    err = events[0]
    assert err["type"] == "error" and err["status"] == 429
    assert err["headers"]["retry-after"] == "1"
    assert err["error"]["message"]
    rows = plain.wait_rows(1)
    assert any(r["model_requested"] == "fake-error-429" and r["status"] == 429 for r in rows)


def test_client_leaving_mid_turn_is_logged(plain: GatewayProcess, fake: FakeOpenAI) -> None:
    ws = open_ws(plain)
    ws.send(orjson.dumps(create("fake-slow", [user("slow please")])).decode())
    time.sleep(0.3)
    ws.close()
    deadline = time.monotonic() + 10
    while True:
        rows = [r for r in plain.rows() if r["model_requested"] == "fake-slow"]
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert rows and rows[-1]["status"] == 499 and rows[-1]["error_type"] == "client_disconnected"


def test_frames_are_not_mutated_by_history(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    """A history entry is a snapshot: later turns on the same base do not change it."""
    with open_ws(gw) as ws:
        r1 = completed(turn(ws, create("gpt-5-mini", [user("base")])))
        base = copy.deepcopy(fake.requests[-1].json()["input"])
        completed(turn(ws, create("gpt-5-mini", [user("branch a")], r1["id"])))
        completed(turn(ws, create("gpt-5-mini", [user("branch b")], r1["id"])))
        sent = fake.requests[-1].json()["input"]
    assert sent[: len(base)] == base and sent[-1] == user("branch b") and len(sent) == len(base) + 2


def test_broken_stream_fails_and_is_not_chainable(plain: GatewayProcess) -> None:
    with open_ws(plain) as ws:
        events = turn(ws, create("fake-drop", [user("hi")]))
        failed = events[-1]
        assert failed["type"] == "response.failed"
        assert failed["response"]["error"]["code"] == "upstream_incomplete_stream"
        again = turn(ws, create("fake-drop", [user("more")], failed["response"]["id"]))
        assert again[-1]["error"]["code"] == "previous_response_not_found"


def test_big_frame_and_long_chain(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    """Frames above websockets' 1 MiB default are taken (the limit is server.max_body_bytes)."""
    big = "x" * (3 * 1024 * 1024)
    with open_ws(gw) as ws:
        prev = completed(turn(ws, create("gpt-5-mini", [user(big)])))["id"]
        for i in range(5):
            prev = completed(turn(ws, create("gpt-5-mini", [user(f"turn {i}")], prev)))["id"]
        sent = fake.requests[-1].json()["input"]
    assert sent[0] == user(big) and len(sent) == 11 and sent[-1] == user("turn 4")


def test_shutdown_closes_open_sockets(gateway_factory: Callable[..., GatewayProcess]) -> None:
    own = gateway_factory()
    ws = open_ws(own)
    assert completed(turn(ws, create("gpt-5-mini", [user("hi")])))["status"] == "completed"
    t0 = time.monotonic()
    assert own.terminate(timeout=15) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM when done
    assert "Application shutdown complete" in own.output()
    assert time.monotonic() - t0 < 5, "an idle socket must not hold the shutdown back"
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1012  # "service restart": Codex reconnects
    ws.close()


def test_shutdown_lets_a_turn_in_flight_finish(gateway_factory: Callable[..., GatewayProcess]) -> None:
    """SIGTERM during a turn: the answer still arrives whole, then the socket closes (1012)."""
    own = gateway_factory()
    assert own.proc is not None
    ws = open_ws(own)
    ws.send(orjson.dumps(create("fake-slow", [user("finish me")])).decode())  # the fake waits 1 s first
    time.sleep(0.3)
    own.proc.send_signal(signal.SIGTERM)
    events = []
    while not events or events[-1]["type"] not in ("response.completed", "response.failed", "error"):
        events.append(orjson.loads(ws.recv(timeout=10)))
    resp = completed(events)
    assert items_done(events)[-1]["content"][0]["text"] == "Hello from fake: finish me"
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1012
    ws.close()
    assert own.proc.wait(20) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in own.output()
    row = log_row(own, resp["id"])
    assert row["status"] == 200 and row["model_requested"] == "fake-slow"


def test_compression_is_a_setting(gw: GatewayProcess, gateway_factory: Callable[..., GatewayProcess]) -> None:
    """permessage-deflate costs more CPU than it saves on a LAN, so it is off unless asked for."""
    offered = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    with open_ws(gw) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
    on = gateway_factory(extra="[server]\nwebsocket_compression = true\n")
    with connect(ws_url(on), additional_headers={"Authorization": f"Bearer {on.key}", **offered},
                 open_timeout=10, max_size=None) as ws:
        assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
        assert completed(turn(ws, create("gpt-5-mini", [user("compressed")])))["status"] == "completed"
