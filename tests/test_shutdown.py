"""SIGTERM: stop accepting, let in-flight streams finish, drain the log queue; lose no record."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import httpx
import orjson

from tests.fakes.openai_upstream import FakeOpenAI, sse_events
from tests.gateway_proc import GatewayProcess


def test_sigterm_during_load_loses_no_record(gateway_factory: Callable[..., GatewayProcess],
                                             fake: FakeOpenAI) -> None:
    gw = gateway_factory(env={"LOCKGATE_LOG_FLUSH_INTERVAL": "2.0"})  # keep records queued at SIGTERM
    assert gw.proc is not None
    fake.stream_delay = 0.05

    async def run() -> tuple[list[str], list[str], int]:
        done: list[str] = []
        streamed: list[str] = []
        failed = 0
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=40)) as c:
            async def one(i: int) -> None:
                nonlocal failed
                stream = i % 3 == 0
                body = {"model": "gpt-5", "input": f"request {i} with a few words", "stream": stream}
                try:
                    r = await c.post(f"{gw.url}/responses", content=orjson.dumps(body),
                                     headers={"authorization": f"Bearer {gw.key}"})
                except httpx.HTTPError:
                    failed += 1
                    return
                assert r.status_code == 200, r.text
                done.append(r.headers["lockgate-request-id"])
                if stream:
                    assert sse_events(r.content)[-1][0] == "response.completed"
                    streamed.append(r.headers["lockgate-request-id"])

            async def terminate_soon() -> None:
                await asyncio.sleep(0.6)
                assert gw.proc is not None
                os.kill(gw.proc.pid, signal.SIGTERM)

            await asyncio.gather(terminate_soon(), *(one(i) for i in range(300)))
        return done, streamed, failed

    try:
        done, streamed, failed = asyncio.run(run())
        # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean exit too.
        assert gw.proc.wait(30) in (0, -signal.SIGTERM), gw.output()[-3000:]
        assert "Application shutdown complete" in gw.output()
    finally:
        fake.stream_delay = 0.0
    assert streamed, "no stream was in flight"
    assert failed > 0, "SIGTERM came after all requests finished; the test proved nothing"
    ids = {r["id"] for r in gw.rows()}
    assert set(done) <= ids, f"{len(set(done) - ids)} answered requests have no row"
