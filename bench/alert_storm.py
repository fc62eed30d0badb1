"""An Alertmanager storm against the real bot, beside a bare aiohttp handler doing one Redis XADD.

    python -m bench.alert_storm [--alerts 10000] [--groups 200] [--senders 50] [--database sqlite|postgresql]

Starts, in this process, the fake Slack Web API, the real bot (real HTTP on 127.0.0.1, real Redis, SQLite in a
temporary directory or a fresh PostgreSQL database) and a bare handler; sends each group's notifications as
Alertmanager does (every notification carries all of the group's alerts so far); reports throughput, latency,
processing time and Slack calls (with the busiest minute of chat.update); then checks that there is exactly one
incident per group with every alert on its timeline.

The bot runs with an on-call configuration that pages on declare (SEV-1, which `critical` maps to): every storm
group pages the storm rotation. Halfway through the storm a new critical group of another service arrives; its
page latency is the time from the webhook's reply to that notification to the emulator receiving the page DM.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bench.slash_load import database_url
from bot.logging import configure_logging
from bot.server import WORKER, build_server
from bot.settings import Settings
from domain.paging_config import OnCall, load_config
from sandbox.slack_api import SlackEmulator

TOKEN = "bench-token"
REDIS_URL = "redis://127.0.0.1:6379/0"
PER_NOTIFICATION = 50  # Alertmanager sends the whole group; beyond this, `truncatedAlerts` counts the rest
STORM_ONCALL, NEW_ONCALL = "U0STORM", "U0NEWGROUP"
NEW_GROUP = 99_999  # the group number of the critical group that arrives mid-storm


@dataclass(frozen=True)
class Run:
    seconds: float
    latencies: list[float]
    statuses: Counter[int]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def quantile(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[q - 1] * 1000


def notifications(alerts: int, groups: int) -> list[bytes]:
    """Bodies in send order: round after round, each group's notification grows by one alert."""
    per_group = [alerts // groups + (1 if g < alerts % groups else 0) for g in range(groups)]
    bodies = []
    for size in range(1, max(per_group) + 1):
        for group, total in enumerate(per_group):
            if size <= total:
                bodies.append(json.dumps(_payload(group, size)).encode())
    return bodies


def oncall() -> OnCall:
    """Page on declare at SEV-1: the storm's groups page one rotation, the `checkout` service another."""
    rotation = {"shift": "1w", "handoff": "2026-01-05T09:00"}
    return load_config(
        {
            "timezone": "UTC",
            "rotations": {
                "storm": {"members": [STORM_ONCALL], **rotation},
                "new": {"members": [NEW_ONCALL], **rotation},
            },
            "escalation_policies": {
                name: {"steps": [{"targets": [f"rotation:{name}"], "ack_timeout": "30m"}]} for name in ("storm", "new")
            },
            "services": {"checkout": {"escalation_policy": "new"}},
            "default_escalation_policy": "storm",
            "page_on_declare": [1],
        },
        "bench-oncall.yaml",
    )


def new_group() -> bytes:
    """The mid-storm notification: a critical group nobody has seen, of the `checkout` service."""
    payload = _payload(NEW_GROUP, 1)
    payload["commonLabels"]["service"] = "checkout"
    payload["alerts"][0]["labels"]["service"] = "checkout"
    return json.dumps(payload).encode()


def _payload(group: int, size: int) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": f"Storm{group}", "severity": "critical", "instance": f"node-{n}"},
            "annotations": {"summary": f"Storm {group} is raging"},
            "startsAt": "2026-11-25T03:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com:9090/graph",
            "fingerprint": f"{group:04x}{n:08x}",
        }
        for n in range(size)
    ]
    shown = alerts[-PER_NOTIFICATION:]
    return {
        "receiver": "firebreak",
        "status": "firing",
        "alerts": shown,
        "groupLabels": {"alertname": f"Storm{group}"},
        "commonLabels": {"alertname": f"Storm{group}", "severity": "critical"},
        "commonAnnotations": {"summary": f"Storm {group} is raging"},
        "externalURL": "http://127.0.0.1:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="Storm{group}"}}',
        "truncatedAlerts": len(alerts) - len(shown),
    }


async def storm(url: str, bodies: list[bytes], senders: int, halfway: bytes | None = None) -> tuple[Run, float]:
    """POST every body with `senders` concurrent senders; each request's latency is kept. `halfway` is sent
    once half the bodies were taken; returns the run and when (monotonic) the reply to `halfway` arrived."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for n, body in enumerate(bodies):
        queue.put_nowait(body)
        if halfway is not None and n == len(bodies) // 2:
            queue.put_nowait(halfway)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    replied = float("nan")

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal replied
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] += 1
            latencies.append(time.perf_counter() - started)
            if body is halfway:
                replied = time.monotonic()

    connector = aiohttp.TCPConnector(limit=senders)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(sender(session) for _ in range(senders))), timeout=600)
        return Run(time.perf_counter() - started, latencies, statuses), replied


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def bare_app(redis: Redis, stream: str) -> web.Application:
    """The floor: read the body, one XADD, answer."""

    async def receive(request: web.Request) -> web.Response:
        await redis.xadd(stream, {"body": await request.read()})
        return web.json_response({"status": "accepted"})

    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.router.add_post("/webhooks/alertmanager", receive)
    return app


async def verify(base: str, alerts_per_group: dict[int, int]) -> list[str]:
    """Exactly one incident per group, and every alert on its incident's timeline."""
    problems = []
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/incidents?status=all") as response:
            incidents = (await response.json())["incidents"]
        if len(incidents) != len(alerts_per_group):
            problems.append(f"{len(incidents)} incidents, expected {len(alerts_per_group)}")
        for incident in incidents:
            group = int(incident["source"]["group_key"].split("Storm")[1].rstrip('"}'))
            async with session.get(f"{base}/api/incidents/{incident['number']}/timeline") as response:
                events = (await response.json())["events"]
            firing = {e["text"] for e in events if e["kind"] == "alert_firing"}
            if len(firing) != alerts_per_group[group]:
                problems.append(f"incident #{incident['number']}: {len(firing)} of {alerts_per_group[group]} alerts")
    return problems


@dataclass(frozen=True)
class Outcome:
    bot: Run
    processed_in: float  # from the first request until every notification was processed
    settled: float  # after the last reply, until Slack caught up
    stored: float  # after the last reply, until every alert was stored
    page_latency: float  # the mid-storm group: webhook reply to page DM
    calls: Counter[str]
    busiest: int
    problems: list[str]


async def run_bot(settings: Settings, slack: SlackEmulator, bodies: list[bytes], senders: int) -> Outcome:
    """The storm against the real bot, then its processing, its Slack work and the check."""
    per_group = Counter(int(json.loads(body)["groupKey"].split("Storm")[1].rstrip('"}')) for body in bodies)
    expected = dict(per_group) | {NEW_GROUP: 1}
    app = build_server(settings, oncall=oncall())
    runner, base = await serve(app)
    try:
        storm_started = time.perf_counter()
        bot, replied = await storm(f"{base}/webhooks/alertmanager", bodies, senders, halfway=new_group())
        started = time.perf_counter()
        await asyncio.wait_for(app[WORKER].caught_up(), timeout=1800)
        processed = time.perf_counter()
        await asyncio.wait_for(app[WORKER].idle(), timeout=1800)
        settled = time.perf_counter() - started
        paged = [c.at for c in slack.calls_to("chat.postMessage") if slack.dm_user(c.args["channel"]) == NEW_ONCALL]
        problems = await verify(base, expected)
    finally:
        await runner.cleanup()
    if not paged:
        problems.append("the mid-storm group was never paged")
    return Outcome(
        bot=bot,
        processed_in=processed - storm_started,
        settled=settled,
        stored=processed - started,
        page_latency=(paged[0] - replied) if paged else float("nan"),
        calls=Counter(call.method for call in slack.calls),
        busiest=busiest_minute([call.at for call in slack.calls if call.method == "chat.update"]),
        problems=problems,
    )


async def bench(alerts: int, groups: int, senders: int, card_interval: float, database: str) -> int:
    bodies = notifications(alerts, groups)
    prefix = f"firebreak-bench:{uuid4().hex}:"
    redis = Redis.from_url(REDIS_URL)
    with tempfile.TemporaryDirectory() as tmp:
        async with SlackEmulator() as slack, database_url(database, Path(tmp)) as url:
            settings = Settings(
                _env_file=None,
                slack_bot_token="xoxb-bench",
                slack_signing_secret="bench",
                slack_api_url=slack.url,
                database_url=url,
                redis_url=REDIS_URL,
                redis_prefix=prefix,
                alertmanager_token=TOKEN,
                incidents_channel=slack.add_channel("incidents"),
                alerts_channel=slack.add_channel("alerts"),
                card_update_interval=card_interval,
                log_level=os.environ.get("BENCH_LOG_LEVEL", "warning"),
                data_dir=Path(tmp),
            )
            configure_logging(settings)
            print(
                f"storm: {alerts} alerts in {groups} groups, {len(bodies)} notifications, {senders} senders, {database}"
            )
            outcome = await run_bot(settings, slack, bodies, senders)
        bare_runner, bare_base = await serve(bare_app(redis, f"{prefix}bare"))
        try:
            bare, _ = await storm(f"{bare_base}/webhooks/alertmanager", bodies, senders)
        finally:
            await bare_runner.cleanup()
    stale = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
    if stale:
        await redis.delete(*stale)
    await redis.aclose()
    _report(outcome, bare, len(bodies))
    return 1 if outcome.problems or set(outcome.bot.statuses) != {200} else 0


def busiest_minute(times: list[float]) -> int:
    """The most calls in any 60-second window."""
    times, most, start = sorted(times), 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 60:
            start += 1
        most = max(most, end - start + 1)
    return most


def _report(outcome: Outcome, bare: Run, count: int) -> None:
    bot = outcome.bot
    for name, run in (("firebreak", bot), ("bare XADD", bare)):
        print(
            f"{name:>10}: {run.rate:8.0f} notifications/s   p50 {run.quantile(50):6.1f} ms   "
            f"p99 {run.quantile(99):6.1f} ms   statuses {dict(run.statuses)}"
        )
    throughput, latency = bot.rate / bare.rate, bot.quantile(50) / bare.quantile(50)
    print(f"     ratio: {throughput:.2f} x the bare throughput, p50 latency {latency:.1f} x")
    print(f"processed: {count / outcome.processed_in:.0f} notifications/s (first request to the last one stored)")
    print(
        f"after the last reply: every alert stored in {outcome.stored:.1f} s, "
        f"Slack caught up in {outcome.settled:.1f} s"
    )
    print(f"new critical group mid-storm: paged {outcome.page_latency:.2f} s after its webhook reply")
    calls = outcome.calls
    print(f"Slack calls: {sum(calls.values())} ({', '.join(f'{m} {n}' for m, n in calls.most_common())})")
    print(f"chat.update: at most {outcome.busiest} in any minute")
    problems = outcome.problems
    print(
        "PASS: one incident per group, every alert on its timeline"
        if not problems
        else "FAIL: " + "; ".join(problems[:5])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--card-interval", type=float, default=1.0)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    sys.exit(asyncio.run(bench(args.alerts, args.groups, args.senders, args.card_interval, args.database)))


if __name__ == "__main__":
    main()
