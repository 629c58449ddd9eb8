"""The bare reference proxy: what any Python gateway costs before its own features.

aiohttp server + pooled aiohttp client, uvloop, orjson. It checks a key, forwards the
body, streams the answer back chunk by chunk and queues a log record. Nothing else.
Run: python bench/ref_proxy.py --port 9100 --upstream http://127.0.0.1:9000 --key sk-bench
"""

import argparse
import asyncio

import orjson
import uvloop
from aiohttp import ClientSession, TCPConnector, web

HOP = {"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--key", default="sk-bench")
    args = ap.parse_args()
    keys = {f"Bearer {args.key}"}
    log: asyncio.Queue[dict[str, object]] = asyncio.Queue(maxsize=10_000)
    state: dict[str, ClientSession] = {}

    async def drain(_: web.Application) -> None:
        state["s"] = ClientSession(connector=TCPConnector(limit=512))
        asyncio.get_running_loop().create_task(_consume())

    async def _consume() -> None:
        while True:
            await log.get()

    async def proxy(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") not in keys:
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.read()
        stream = orjson.loads(body).get("stream") is True
        async with state["s"].post(args.upstream + request.path, data=body,
                                   headers={"Content-Type": "application/json"}) as up:
            headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP}
            if not stream:
                data = await up.read()
                log.put_nowait({"path": request.path, "status": up.status, "bytes": len(data)})
                return web.Response(body=data, status=up.status, headers=headers)
            resp = web.StreamResponse(status=up.status, headers=headers)
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            log.put_nowait({"path": request.path, "status": up.status})
            return resp

    app = web.Application()
    app.on_startup.append(drain)
    app.router.add_post("/v1/chat/completions", proxy)
    app.router.add_post("/v1/responses", proxy)
    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/health", health)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=lambda *a: print("READY", flush=True))


if __name__ == "__main__":
    main()
