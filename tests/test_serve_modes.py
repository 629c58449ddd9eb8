"""Ways to run the server: keyless on loopback, several worker processes on one port."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import orjson

from tests.gateway_proc import GatewayProcess


def test_auth_none_on_loopback_needs_no_key(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory(env={"LOCKGATE_SERVER_AUTH": "none"}, create_key=False)
    r = httpx.post(f"{gw.url}/responses", content=orjson.dumps({"model": "gpt-5", "input": "no key"}))
    assert r.status_code == 200
    row = gw.row(r.headers["lockgate-request-id"])
    assert row["status"] == 200 and row["key_id"] is None
    assert "created your first gateway key" not in gw.output()


def test_two_workers_share_the_port_and_the_log(gateway_factory: Callable[..., GatewayProcess]) -> None:
    gw = gateway_factory(env={"LOCKGATE_SERVER_WORKERS": "2"})
    ids = []
    for i in range(40):
        # A new connection each time, so both workers take some.
        client = openai.OpenAI(base_url=gw.url, api_key=gw.key, max_retries=0)
        raw = client.responses.with_raw_response.create(model="gpt-5", input=f"worker test {i}")
        ids.append(raw.headers["lockgate-request-id"])
        client.close()
    rows = gw.wait_rows(40)
    assert {r["id"] for r in rows} == set(ids)
    assert gw.output().count("Application startup complete") == 2
