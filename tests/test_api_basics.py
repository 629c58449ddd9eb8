"""The management API's plumbing, through a real gateway: the OpenAPI document, errors, auth."""

from __future__ import annotations

import httpx
from openapi_spec_validator import validate

from tests.gateway_proc import GatewayProcess


def test_openapi_document_is_valid_and_public(gateway: GatewayProcess) -> None:
    r = httpx.get(f"{gateway.root}/api/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    spec = r.json()
    validate(spec)
    assert spec["openapi"] == "3.1.0" and "/api/openapi.json" in spec["paths"]
    for path in ("/v1/request/{id}/feedback", "/v1/request/{id}/score", "/custom/v1/log", "/api/log"):
        assert "post" in spec["paths"][path], path
    feedback = spec["paths"]["/v1/request/{id}/feedback"]["post"]
    assert feedback["security"] == [{"bearer": []}] and feedback["parameters"][0]["name"] == "id"


def test_unknown_api_paths_and_methods_get_openai_shaped_errors(gateway: GatewayProcess) -> None:
    r = httpx.get(f"{gateway.root}/api/nothing-here", headers={"authorization": f"Bearer {gateway.key}"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_url"
    r = httpx.post(f"{gateway.root}/api/openapi.json")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_a_failing_handler_answers_500_in_the_api_error_shape() -> None:
    from typing import Any

    import orjson

    from lockgate.api.router import ApiRequest, ApiRouter, Route

    async def broken(_: ApiRequest) -> None:
        raise KeyError("bug")

    router = ApiRouter(None, [Route("GET", "/api/broken", broken, "fails", public=True)])  # type: ignore[arg-type]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await router({"type": "http", "method": "GET", "path": "/api/broken", "headers": [], "query_string": b""},
                 receive, send)
    assert sent[0]["status"] == 500
    assert orjson.loads(sent[1]["body"])["error"]["type"] == "server_error"
