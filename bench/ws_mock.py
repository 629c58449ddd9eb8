"""A Responses upstream for the WebSocket benchmark: the same answer over HTTPS SSE and over
the WebSocket mode (one JSON event per text frame, the last response kept per connection).

Every request body is parsed, as a real upstream must; the answer to each turn is a Codex
tool turn (an encrypted reasoning item and a function call, ~2 KB of events). `GET /stats`
says how many request bytes arrived, so the benchmark can show what each path sends upstream.
Prints `LISTENING <port>` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import sys
from typing import Any

import orjson
from aiohttp import WSMsgType, web

_ids = itertools.count(1)
_received = {"bytes": 0, "requests": 0}
_REASONING = base64.b64encode(b"r" * 1024).decode()


def _events(model: str) -> list[bytes]:
    """The event sequence of one tool turn, each event's JSON."""
    n = next(_ids)
    rid = f"resp_bench{n:08d}"
    reasoning = {"id": f"rs_{n}", "type": "reasoning", "summary": [], "encrypted_content": _REASONING}
    call = {"id": f"fc_{n}", "type": "function_call", "status": "completed", "call_id": f"call_{n}",
            "name": "exec_command", "arguments": orjson.dumps({"cmd": "ls -la src/ && cat README.md"}).decode()}
    usage = {"input_tokens": 30_000, "input_tokens_details": {"cached_tokens": 28_000}, "output_tokens": 60,
             "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 30_060}
    resp: dict[str, Any] = {"id": rid, "object": "response", "created_at": 1763000000, "status": "in_progress",
                            "model": model, "output": [], "usage": None}
    out: list[dict[str, Any]] = [{"type": "response.created", "response": resp},
                                 {"type": "response.in_progress", "response": resp}]
    for idx, item in enumerate((reasoning, call)):
        out.append({"type": "response.output_item.added", "output_index": idx,
                    "item": {**item, "arguments": ""} if item is call else item})
        if item is call:
            for piece in (call["arguments"][i:i + 12] for i in range(0, len(call["arguments"]), 12)):
                out.append({"type": "response.function_call_arguments.delta", "output_index": idx,
                            "item_id": call["id"], "delta": piece})
            out.append({"type": "response.function_call_arguments.done", "output_index": idx,
                        "item_id": call["id"], "arguments": call["arguments"]})
        out.append({"type": "response.output_item.done", "output_index": idx, "item": item})
    out.append({"type": "response.completed",
                "response": {**resp, "status": "completed", "output": [reasoning, call], "usage": usage}})
    return [orjson.dumps({**e, "sequence_number": i}) for i, e in enumerate(out)]


async def _post(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    _received["bytes"] += len(raw)
    _received["requests"] += 1
    body = orjson.loads(raw)
    if request.path.endswith("/chat/completions"):  # the harness's readiness probe
        return web.json_response({"id": "c", "object": "chat.completion", "model": body["model"], "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]})
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(b"".join(b"data: " + e + b"\n\n" for e in _events(body["model"])))
    await resp.write_eof()
    return resp


async def _socket(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    last: str | None = None
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        _received["bytes"] += len(msg.data)
        _received["requests"] += 1
        frame = orjson.loads(msg.data)
        prev = frame.get("previous_response_id")
        if prev is not None and prev != last:
            await ws.send_str(orjson.dumps({"type": "error", "status": 400, "error": {
                "type": "invalid_request_error", "code": "previous_response_not_found", "message": "not found",
                "param": "previous_response_id"}}).decode())
            continue
        events = _events(frame.get("model", ""))
        for e in events:
            await ws.send_str(e.decode())
        last = orjson.loads(events[-1])["response"]["id"]
    return ws


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(_received)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_post("/v1/responses", _post)
    app.router.add_post("/v1/chat/completions", _post)
    app.router.add_get("/v1/responses", _socket)
    app.router.add_get("/stats", _stats)

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port)
        await site.start()
        port = runner.addresses[0][1]
        print(f"LISTENING {port}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
