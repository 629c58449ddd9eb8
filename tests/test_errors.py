"""Every failure gets a clear OpenAI-shaped error with the right status, and a log row."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import orjson
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_proc import GatewayProcess


def _post(gw: GatewayProcess, path: str, content: bytes, key: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key is not False:
        headers["authorization"] = f"Bearer {key or gw.key}"
    with httpx.Client(timeout=15) as c:
        return c.post(f"{gw.url}{path}", content=content, headers=headers)


def _error(r: httpx.Response) -> dict[str, object]:
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    return dict(err)


@pytest.mark.parametrize(("content", "status", "code"), [
    (b"{not json", 400, None),
    (b"[1, 2]", 400, None),
    (b"", 400, None),
    (b'{"input": "no model"}', 400, "missing_required_parameter"),
    (b'{"model": 5, "input": "x"}', 400, "invalid_type"),
    (b'{"model": "mystery-model", "input": "x"}', 404, "model_not_found"),
])
def test_bad_requests(gateway: GatewayProcess, content: bytes, status: int, code: str | None) -> None:
    r = _post(gateway, "/responses", content)
    assert r.status_code == status
    err = _error(r)
    assert err["type"] == "invalid_request_error"
    if code:
        assert err["code"] == code
    row = gateway.row(r.headers["lockgate-request-id"])
    assert row["status"] == status and row["error"]


def test_an_api_no_provider_format_can_carry_is_refused(gateway: GatewayProcess) -> None:
    # Embeddings are never translated: the Anthropic provider cannot take them.
    r = _post(gateway, "/embeddings", b'{"model": "claude-sonnet-4", "input": "x"}')
    assert r.status_code == 400
    err = _error(r)
    assert err["code"] == "unsupported_api_for_provider" and "claude" in str(err["message"])
    row = gateway.row(r.headers["lockgate-request-id"])
    assert row["status"] == 400 and row["error"]


def test_missing_and_wrong_keys_get_401(gateway: GatewayProcess) -> None:
    body = orjson.dumps({"model": "gpt-5", "input": "x"})
    for key in (False, "lg-wrong"):
        r = _post(gateway, "/responses", body, key=key)  # type: ignore[arg-type]
        assert r.status_code == 401
        assert _error(r)["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway.url, api_key="lg-nope", max_retries=0).models.list()


def test_body_over_limit_gets_413(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory(extra="[server]\nmax_body_bytes = 1000\n")
    r = _post(gw, "/chat/completions", orjson.dumps({"model": "gpt-5", "messages": [], "pad": "x" * 5000}))
    assert r.status_code == 413 and _error(r)["code"] == "request_too_large"
    assert _post(gw, "/chat/completions", orjson.dumps({"model": "gpt-5", "messages": [
        {"role": "user", "content": "hi"}]})).status_code == 200


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
def test_upstream_errors_pass_through(gateway: GatewayProcess, fake: FakeOpenAI, status: int) -> None:
    body = orjson.dumps({"model": f"fake-error-{status}", "input": "x"})
    direct = httpx.post(f"{fake.url}/responses", content=body,
                        headers={"authorization": f"Bearer {fake.api_key}"})
    via = _post(gateway, "/responses", body)
    assert via.status_code == direct.status_code == status
    assert via.content == direct.content
    if status == 429:
        assert via.headers["retry-after"] == "1"
    row = gateway.row(via.headers["lockgate-request-id"])
    assert row["status"] == status and row["error_type"] == "upstream_status"


def test_upstream_error_in_sdk(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="fake-error-429", input="x", stream=True)


def test_unreachable_upstream_gets_502(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory(extra='[providers.dead]\nbase_url = "http://127.0.0.1:9/v1"\nmodels = ["dead-*"]\n')
    for stream in (False, True):
        r = _post(gw, "/chat/completions", orjson.dumps({"model": "dead-1", "messages": [], "stream": stream}))
        assert r.status_code == 502
        err = _error(r)
        assert err["type"] == "upstream_error" and err["code"] == "upstream_unreachable"
        assert gw.row(r.headers["lockgate-request-id"])["status"] == 502


def test_upstream_timeout_gets_504(gateway_factory: Callable[..., GatewayProcess], fake: FakeOpenAI) -> None:
    gw = gateway_factory(extra="")
    fake.slow_seconds = 7.0  # longer than upstream.read_timeout = 5 in the test config
    try:
        r = _post(gw, "/responses", orjson.dumps({"model": "fake-slow", "input": "x"}))
    finally:
        fake.slow_seconds = 1.0
    assert r.status_code == 504 and _error(r)["code"] == "upstream_timeout"


def test_stream_that_stops_early_ends_with_a_terminal_event(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.url, api_key=gateway.key, max_retries=0)
    events = list(client.responses.create(model="fake-drop", input="x", stream=True))
    assert events[-1].type == "response.failed"
    r = _post(gateway, "/chat/completions", orjson.dumps({"model": "fake-drop", "messages": [
        {"role": "user", "content": "x"}], "stream": True}))
    assert r.content.rstrip().endswith(b"}") and b'"error"' in r.content
    assert gateway.row(r.headers["lockgate-request-id"])["error_type"] == "upstream_incomplete_stream"


def test_unknown_path_and_wrong_method(gateway: GatewayProcess) -> None:
    with httpx.Client() as c:
        r = c.get(f"{gateway.root}/v1/nothing-here")
        assert r.status_code == 404 and _error(r)["code"] == "unknown_url"
        r = c.get(f"{gateway.url}/chat/completions")
        assert r.status_code == 405


def test_health_endpoints(gateway: GatewayProcess) -> None:
    assert httpx.get(f"{gateway.root}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{gateway.root}/readyz").json() == {"status": "ready"}


def test_401_says_how_to_get_a_key(gateway: GatewayProcess) -> None:
    # What Codex sends (stream, SSE accept); Codex prints the message of a 401 to the user.
    body = orjson.dumps({"model": "gpt-5", "input": "x", "stream": True})
    for key in (False, "lg-wrong"):
        r = _post(gateway, "/responses", body, key=key)  # type: ignore[arg-type]
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/json")
        message = str(_error(r)["message"])
        assert "lockgate keys create" in message and "lockgate codex setup" in message
        assert "LOCKGATE_API_KEY" in message


def test_quota_passes_through_as_429_insufficient_quota(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    body = orjson.dumps({"model": "fake-quota", "input": "x", "stream": True})
    direct = httpx.post(f"{fake.url}/responses", content=body, headers={"authorization": f"Bearer {fake.api_key}"})
    via = _post(gateway, "/responses", body)
    assert via.status_code == direct.status_code == 429 and via.content == direct.content
    assert _error(via)["code"] == "insufficient_quota" and "retry-after" not in via.headers
