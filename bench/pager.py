"""Pages due while Slack is slow for another incident: how late does the page DM go out?

    python -m bench.pager [--slow 9] [--rounds 3]

Starts, in this process, the Slack emulator and the real bot (real HTTP, real Redis, SQLite in a temporary
directory, the pager loop every 0.5 s). Two incidents are declared. Then, each round: Slack answers
`chat.postMessage` and `conversations.invite` for incident A's channel `--slow` seconds late; A is paged
(`/incident #A page service:slow`), and once A's page DM has gone out (the pager is now busy with A's channel
mention and invitation), B is paged. B's lateness is the time from the reply to B's page command (its first
step is due then) to the emulator receiving B's page DM. The anchor is the same round with Slack answering at
once, so the ratio compares across noisy machines.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode
from uuid import uuid4

import aiohttp

from bench.alert_storm import serve
from bot.appkeys import WORKER
from bot.logging import configure_logging
from bot.server import build_server
from bot.settings import Settings
from domain.paging_config import OnCall, load_config
from handlers import SERVICES
from sandbox.slack_api import SlackEmulator
from storage import migrate
from tests.bot.harness import sign

SECRET = "bench-signing-secret"
REDIS_URL = "redis://127.0.0.1:6379/0"
GOAL = 2.0


def oncall(slow: list[str], fast: list[str]) -> OnCall:
    """Two services, each paging its own people on a one-step policy."""
    return load_config(
        {
            "timezone": "UTC",
            "rotations": {
                "slow": {"members": slow, "shift": "1w", "handoff": "2026-01-05T09:00"},
                "fast": {"members": fast, "shift": "1w", "handoff": "2026-01-05T09:00"},
            },
            "escalation_policies": {
                name: {"steps": [{"targets": [f"rotation:{name}"], "ack_timeout": "30m"}]} for name in ("slow", "fast")
            },
            "services": {"slow": {"escalation_policy": "slow"}, "fast": {"escalation_policy": "fast"}},
            "default_escalation_policy": "slow",
            "page_on_declare": [],
        },
        "bench-oncall.yaml",
    )


async def command(http: aiohttp.ClientSession, url: str, text: str) -> str:
    body = urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": "U0BENCH",
            "user_name": "bench",
            "channel_id": "C0GENERAL",
            "team_id": "T0BENCH",
            "trigger_id": f"trigger-{uuid4().hex}",
            "response_url": "http://127.0.0.1:9/none",
        }
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret=SECRET)}
    async with http.post(url, data=body.encode(), headers=headers) as response:
        if response.status != 200:
            raise SystemExit(f"/incident {text}: HTTP {response.status}")
        return await response.text()


async def page_dm(slack: SlackEmulator, user: str, after: int) -> float:
    """When the emulator received the page DM to `user` (the first chat.postMessage to their DM after
    call number `after`), on the monotonic clock; at most a minute after the call."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for call in slack.calls[after:]:
            channel = str(call.args.get("channel", ""))
            if call.method == "chat.postMessage" and slack.dm_user(channel) == user:
                return call.at
        await asyncio.sleep(0.005)
    raise SystemExit(f"no page DM to {user} within a minute")


async def one_round(slack: SlackEmulator, http: aiohttp.ClientSession, url: str, channel: str, slow: float) -> float:
    """Page A (Slack slow for its channel), then B once A's DM went out; B's lateness in seconds."""
    slack.delay("chat.postMessage", slow, channel=channel)
    slack.delay("conversations.invite", slow, channel=channel)
    mark = len(slack.calls)
    await command(http, url, "#1 page service:slow")
    await page_dm(slack, "U0SLOW", mark)
    await asyncio.sleep(0.2)  # the pager is now on A's channel mention and invitation
    mark = len(slack.calls)
    await command(http, url, "#2 page service:fast")
    due = time.monotonic()
    late = await page_dm(slack, "U0FAST", mark) - due
    slack.delay("chat.postMessage", 0)
    slack.delay("conversations.invite", 0)
    await asyncio.sleep(2 * slow + 1)  # let A's slow calls end before the next round
    return late


async def bench(slow: float, rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate, database)
        async with SlackEmulator() as slack:
            settings = Settings(
                _env_file=None,
                slack_bot_token="xoxb-bench",
                slack_signing_secret=SECRET,
                slack_api_url=slack.url,
                database_url=database,
                redis_url=REDIS_URL,
                redis_prefix=f"firebreak-bench:{uuid4().hex}:",
                incidents_channel=slack.add_channel("incidents"),
                log_level="warning",
                data_dir=Path(tmp),
            )
            configure_logging(settings)
            app = build_server(settings, oncall=oncall(["U0SLOW"], ["U0FAST"]))
            runner, base = await serve(app)
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                    url = f"{base}/slack/events"
                    for title in ("Slow incident", "Fast incident"):
                        await command(http, url, f"declare {title} sev3")
                    await app[WORKER].idle()
                    channel = (await app[SERVICES].incidents.get(1)).channel_id or ""
                    anchor = [await one_round(slack, http, url, channel, 0) for _ in range(rounds)]
                    slowed = [await one_round(slack, http, url, channel, slow) for _ in range(rounds)]
            finally:
                await runner.cleanup()
    return _report(slow, anchor, slowed)


def _report(slow: float, anchor: list[float], slowed: list[float]) -> int:
    print(f"pager: a page due while Slack takes {slow:g} s for another incident's channel ({len(slowed)} rounds)")
    base, late = statistics.median(anchor), statistics.median(slowed)
    print(f"  anchor (Slack answers at once): late median {base:.2f} s, max {max(anchor):.2f} s")
    print(f"  Slack slow for the other one:   late median {late:.2f} s, max {max(slowed):.2f} s")
    print(f"  ratio: {late / max(base, 0.001):.1f} x the anchor; worst {max(slowed) - base:+.2f} s beyond it")
    ok = max(slowed) < GOAL
    print(f"{'PASS' if ok else 'FAIL'}: every page less than {GOAL:g} s late")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--slow", type=float, default=9.0, help="seconds Slack takes for the slow incident")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.exit(asyncio.run(bench(args.slow, args.rounds)))


if __name__ == "__main__":
    main()
