"""The Slack emulator in a process of its own, so that it does not share a core with the load generator.

    python -m bench.slack_process PORT [CHANNEL_ID=NAME ...]

Serves the emulator's Web API on 127.0.0.1:PORT with the channels given seeded, `GET /healthz`, and
`GET /bench/calls`: every call recorded so far, each with its method, when it arrived (`time.monotonic()`,
one clock for every process of the machine on Linux) and, for a post in a DM, the person it went to.
"""

import sys

from aiohttp import web

from sandbox.slack_api import SlackEmulator


def application(port: int, channels: dict[str, str]) -> web.Application:
    slack = SlackEmulator(base_url=f"http://127.0.0.1:{port}/")
    for channel_id, name in channels.items():
        slack.add_channel(name, channel_id=channel_id)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def calls(_request: web.Request) -> web.Response:
        return web.json_response([_call(slack, n) for n in range(len(slack.calls))])

    app = slack.application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/bench/calls", calls)
    return app


def _call(slack: SlackEmulator, n: int) -> dict[str, object]:
    call = slack.calls[n]
    channel = call.args.get("channel")
    to = slack.dm_user(channel) if call.method == "chat.postMessage" and isinstance(channel, str) else None
    return {"method": call.method, "at": call.at, "dm_user": to}


def main() -> None:
    port = int(sys.argv[1])
    channels = dict(arg.split("=", 1) for arg in sys.argv[2:])
    web.run_app(application(port, channels), host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
