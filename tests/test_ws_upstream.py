"""WebSocket turns bridged to an upstream WebSocket (providers with `websockets = true`, as OpenAI's preset).

A real lockgate process between a `websockets` client and the fake OpenAI's WebSocket face
(tests/fakes/responses_socket.py), which keeps only its last response per connection, as OpenAI
does with store=false. What the upstream received is read from the fake's recorded frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import UPSTREAM_KEY, gateway_config
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.responses_socket import SocketFrame
from tests.gateway_proc import GatewayProcess
from tests.ws_client import completed, create, items_done, log_row, open_ws, turn, user


@pytest.fixture(scope="module")
def bridged(gateway_factory: Callable[..., GatewayProcess], fake: FakeOpenAI,
            fakes: dict[str, Any]) -> GatewayProcess:
    config = gateway_config(fake.url, openai_extra="websockets = true", claude_url=fakes["anthropic"].url)
    return gateway_factory(config=config, env={"FAKE_OPENAI_KEY": UPSTREAM_KEY,
                                               "FAKE_ANTHROPIC_KEY": fakes["anthropic"].api_key})


@pytest.fixture(autouse=True)
def clean(fake: FakeOpenAI) -> Iterator[None]:
    fake.clear()
    yield
    fake.clear()


def frames(fake: FakeOpenAI) -> list[SocketFrame]:
    return list(fake.socket.frames)


def posts(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [r.json() for r in fake.requests if r.method == "POST" and r.path == "/v1/responses"]


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_chained_turns_send_only_new_items(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    with open_ws(bridged, **{"x-codex-turn-metadata": '{"turn_id":"t1"}'}) as ws:
        warm = completed(turn(ws, create("fast", [user("be terse")], generate=False)))
        ev1 = turn(ws, create("fast", [user("first question")], warm["id"]))
        r1 = completed(ev1)
        r2 = completed(turn(ws, {"type": "response.create", "previous_response_id": r1["id"],
                                 "input": [user("second question")], "store": False}))  # model-less frame
    sent = frames(fake)
    assert posts(fake) == [], "the turns went over HTTPS"
    assert len(fake.socket.upgrades) == 1 and [f.connection for f in sent] == [0, 0]
    # Turn 1 in full (lockgate answered the warm-up itself), turn 2 as its new item after turn 1.
    assert "previous_response_id" not in sent[0].frame
    assert sent[0].frame["input"] == [user("be terse"), user("first question")]
    assert sent[1].frame["previous_response_id"] == r1["id"] and sent[1].frame["input"] == [user("second question")]
    assert [f.frame["model"] for f in sent] == ["gpt-5-mini"] * 2  # the alias resolved in both
    assert sent[1].body["input"] == [user("be terse"), user("first question"), *items_done(ev1),
                                     user("second question")]
    # The upgrade carried the provider's key, not the gateway's, and the client's per-turn headers.
    up = fake.socket.upgrades[0]
    assert up["authorization"] == f"Bearer {UPSTREAM_KEY}" and bridged.key not in str(up)
    assert up["openai-beta"] == "responses_websockets=2026-02-06"
    assert up["x-codex-turn-metadata"] == '{"turn_id":"t1"}'
    # Each turn is one log row as over HTTPS, with the whole conversation as its request body.
    for r in (r1, r2):
        row = log_row(bridged, r["id"])
        assert (row["status"], row["provider"], row["model_resolved"], row["api"]) == (
            200, "openai", "gpt-5-mini", "responses")
        assert row["input_tokens"] == r["usage"]["input_tokens"] and row["output_tokens"]
    body = orjson.loads(bridged.bodies(str(log_row(bridged, r2["id"])["id"]))["request_body"])
    assert [i["content"][0]["text"] for i in body["input"] if i.get("role") == "user"] == [
        "be terse", "first question", "second question"]


def test_upstream_without_websocket_mode_gets_https(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    fake.socket.enabled = False
    with open_ws(bridged) as ws:
        r1 = completed(turn(ws, create("gpt-5-mini", [user("one")])))
        r2 = completed(turn(ws, create("gpt-5-mini", [user("two")], r1["id"])))
    assert frames(fake) == []
    upgrades = [r for r in fake.requests if r.method == "GET" and r.path == "/v1/responses"]
    assert len(upgrades) == 1, "one refused upgrade per client socket, then HTTPS"
    sent = posts(fake)
    assert len(sent) == 2 and [i["content"][0]["text"] for i in sent[1]["input"] if i.get("role") == "user"] == [
        "one", "two"]
    assert log_row(bridged, r2["id"])["status"] == 200


def test_lost_chain_is_sent_whole(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    """The upstream no longer has the response (restarted): the turn goes again in full, same socket."""
    with open_ws(bridged) as ws:
        r1 = completed(turn(ws, create("gpt-5-mini", [user("one")])))
        fake.socket.amnesia = True
        r2 = completed(turn(ws, create("gpt-5-mini", [user("two")], r1["id"])))
    sent = frames(fake)
    assert [f.connection for f in sent] == [0, 0, 0]
    assert [bool(f.frame.get("previous_response_id")) for f in sent] == [False, True, False]
    assert len(sent[2].frame["input"]) == 3 and sent[2].frame["input"][-1] == user("two")
    assert r2["status"] == "completed" and log_row(bridged, r2["id"])["status"] == 200


def test_connection_limit_opens_a_new_socket(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    fake.socket.turn_limit = 1  # like OpenAI's 60 minutes, after one response
    with open_ws(bridged) as ws:
        r1 = completed(turn(ws, create("gpt-5-mini", [user("one")])))
        ev2 = turn(ws, create("gpt-5-mini", [user("two")], r1["id"]))
    assert completed(ev2)["status"] == "completed"
    assert [e["type"] for e in ev2].count("error") == 0  # the client never saw the limit
    sent = frames(fake)
    assert len(fake.socket.upgrades) == 2
    assert sent[-1].connection == 1 and "previous_response_id" not in sent[-1].frame
    assert len(sent[-1].frame["input"]) == 3


def test_upstream_closing_idle_socket_is_reopened(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    with open_ws(bridged) as ws:
        r1 = completed(turn(ws, create("gpt-5-mini", [user("one")])))
        fake.socket.close_all()
        time.sleep(0.2)
        r2 = completed(turn(ws, create("gpt-5-mini", [user("two")], r1["id"])))
    sent = frames(fake)
    assert [f.connection for f in sent] == [0, 1] and "previous_response_id" not in sent[1].frame
    assert r2["status"] == "completed"


def test_error_event_keeps_status_and_retry_after(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    with open_ws(bridged) as ws:
        events = turn(ws, create("fake-error-429", [user("hi")]))
        after = completed(turn(ws, create("gpt-5-mini", [user("still here")])))
    assert len(events) == 1
    err = events[0]
    assert (err["type"], err["status"], err["error"]["code"]) == ("error", 429, "rate_limit_exceeded")
    assert err["headers"]["retry-after"] == "1"
    assert after["status"] == "completed" and len(fake.socket.upgrades) == 1  # the socket stayed usable
    wait_for(lambda: any(r["model_requested"] == "fake-error-429" for r in bridged.rows()), "no row for the 429")
    row = next(r for r in bridged.rows() if r["model_requested"] == "fake-error-429")
    assert row["status"] == 429 and "fake upstream error 429" in (row["error"] or "")


def test_upstream_closing_mid_response(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    with open_ws(bridged) as ws:
        events = turn(ws, create("fake-drop", [user("hi")]))
        failed = events[-1]
        assert failed["type"] == "response.failed"
        assert failed["response"]["error"]["code"] == "upstream_incomplete_stream"
        again = completed(turn(ws, create("gpt-5-mini", [user("next")])))
    assert again["status"] == "completed" and len(fake.socket.upgrades) == 2
    rid = failed["response"]["id"]
    row = log_row(bridged, rid)
    assert row["status"] == 502 and row["error_type"] == "upstream_incomplete_stream"


def test_client_leaving_mid_turn_closes_the_upstream_socket(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    since = time.time()
    ws = open_ws(bridged)
    ws.send(orjson.dumps(create("fake-slow", [user("slow please")])).decode())
    wait_for(lambda: len(fake.socket.frames) == 1, "the turn never reached the upstream")
    ws.close()
    wait_for(lambda: fake.socket.open_sockets == 0, "the upstream socket stayed open")
    wait_for(lambda: any(r["model_requested"] == "fake-slow" and r["ts"] >= since for r in bridged.rows()),
             "no row for the cut turn")
    row = [r for r in bridged.rows() if r["model_requested"] == "fake-slow" and r["ts"] >= since][-1]
    assert (row["status"], row["error_type"]) == (499, "client_disconnected")


def test_turns_to_other_providers_in_between(bridged: GatewayProcess, fake: FakeOpenAI,
                                             fakes: dict[str, Any]) -> None:
    """OpenAI, then Claude (translated, HTTPS), then OpenAI again: the upstream socket's last
    response is not the one the third turn follows, so that turn goes whole."""
    with open_ws(bridged) as ws:
        r1 = completed(turn(ws, create("gpt-5-mini", [user("one")])))
        r2 = completed(turn(ws, create("claude-sonnet-4-5", [user("two")], r1["id"])))
        r3 = completed(turn(ws, create("gpt-5-mini", [user("three")], r2["id"])))
    sent = frames(fake)
    assert [bool(f.frame.get("previous_response_id")) for f in sent] == [False, False]
    texts = orjson.dumps(sent[1].frame["input"]).decode()
    assert all(t in texts for t in ("one", "two", "three"))
    assert log_row(bridged, r2["id"])["provider"] == "claude" and r3["status"] == "completed"


def test_https_requests_never_use_the_socket(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    r = httpx.post(f"{bridged.url}/responses", timeout=10, headers={"authorization": f"Bearer {bridged.key}"},
                   json={"model": "gpt-5-mini", "input": "over https", "stream": True})
    assert r.status_code == 200 and "response.completed" in r.text
    assert frames(fake) == [] and len(posts(fake)) == 1


def test_openai_sdk_websocket_client(bridged: GatewayProcess, fake: FakeOpenAI) -> None:
    """The openai SDK's own WebSocket client (`client.responses.connect()`), two chained turns."""
    from openai import OpenAI

    client = OpenAI(base_url=bridged.url, api_key=bridged.key, max_retries=0)

    def until_done(conn: Any) -> Any:
        for event in conn:
            if event.type in ("response.completed", "response.failed", "error"):
                return event
        raise AssertionError("the socket closed before the response ended")

    with client.responses.connect() as conn:
        conn.response.create(model="gpt-5-mini", input="first question", store=False)
        first = until_done(conn)
        assert first.type == "response.completed", first
        conn.response.create(model="gpt-5-mini", input="second question", store=False,
                             previous_response_id=first.response.id)
        second = until_done(conn)
    assert second.type == "response.completed", second
    assert second.response.output_text == "Hello from fake: second question"
    sent = frames(fake)
    assert [f.frame.get("previous_response_id") for f in sent] == [None, first.response.id]
    assert sent[1].frame["input"] == [user("second question")]  # the SDK's string input, as an item
    assert log_row(bridged, second.response.id)["status"] == 200
