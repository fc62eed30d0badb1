"""The anchor of `bench.alert_storm`: a bare aiohttp handler that reads the body and does one Redis XADD.

python -m bench.anchor_xadd PORT REDIS_URL STREAM
"""

import sys
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

_REDIS = web.AppKey("redis", Redis)


def build(redis_url: str, stream: str) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        await request.app[_REDIS].xadd(stream, {"body": await request.read()})
        return web.json_response({"status": "accepted"})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def redis(app: web.Application) -> AsyncIterator[None]:
        app[_REDIS] = Redis.from_url(redis_url)
        yield
        await app[_REDIS].aclose()

    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.cleanup_ctx.append(redis)
    app.add_routes([web.post("/webhooks/alertmanager", receive), web.get("/healthz", healthz)])
    return app


if __name__ == "__main__":
    web.run_app(build(sys.argv[2], sys.argv[3]), host="127.0.0.1", port=int(sys.argv[1]), print=None)
