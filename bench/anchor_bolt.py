"""The anchor of `bench.slash_load`: Bolt's own ack-only slash command listener on aiohttp, nothing else.

python -m bench.anchor_bolt PORT SIGNING_SECRET
"""

import logging
import sys
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def build(secret: str, api_url: str) -> web.Application:
    bolt = AsyncApp(signing_secret=secret, client=AsyncWebClient(token="xoxb-anchor", base_url=api_url))
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)

    async def handle_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack(text="ok")

    bolt.command("/incident")(handle_command)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.add_routes([web.post("/slack/events", events), web.get("/healthz", healthz)])
    return app


if __name__ == "__main__":
    web.run_app(build(sys.argv[2], sys.argv[3]), host="127.0.0.1", port=int(sys.argv[1]), print=None)
