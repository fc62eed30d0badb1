"""An Alertmanager storm against the real bot, beside a bare aiohttp handler doing one Redis XADD.

    python -m bench.alert_storm [--alerts 10000] [--groups 200] [--senders 50]

Starts, in this process, the fake Slack Web API, the real bot (real HTTP on 127.0.0.1, real Redis, SQLite in a
temporary directory) and a bare handler; sends each group's notifications as Alertmanager does (every
notification carries all of the group's alerts so far); reports throughput, latency, processing time and Slack
calls (with the busiest minute of chat.update); then checks that there is exactly one incident per group with
every alert on its timeline.
"""

import argparse
import asyncio
import json
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

from bot.logging import configure_logging
from bot.server import WORKER, build_server
from bot.settings import Settings
from sandbox.slack_api import SlackEmulator
from storage import migrate

TOKEN = "bench-token"
REDIS_URL = "redis://127.0.0.1:6379/0"
PER_NOTIFICATION = 50  # Alertmanager sends the whole group; beyond this, `truncatedAlerts` counts the rest


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


async def storm(url: str, bodies: list[bytes], senders: int) -> Run:
    """POST every body with `senders` concurrent senders; each request's latency is kept."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    async def sender(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=senders)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(sender(session) for _ in range(senders))), timeout=600)
        return Run(time.perf_counter() - started, latencies, statuses)


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


async def verify(base: str, groups: int, alerts_per_group: list[int]) -> list[str]:
    """Exactly one incident per group, and every alert on its incident's timeline."""
    problems = []
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/incidents?status=all") as response:
            incidents = (await response.json())["incidents"]
        if len(incidents) != groups:
            problems.append(f"{len(incidents)} incidents, expected {groups}")
        for incident in incidents:
            group = int(incident["source"]["group_key"].split("Storm")[1].rstrip('"}'))
            async with session.get(f"{base}/api/incidents/{incident['number']}/timeline") as response:
                events = (await response.json())["events"]
            firing = {e["text"] for e in events if e["kind"] == "alert_firing"}
            if len(firing) != alerts_per_group[group]:
                problems.append(f"incident #{incident['number']}: {len(firing)} of {alerts_per_group[group]} alerts")
    return problems


async def bench(alerts: int, groups: int, senders: int, card_interval: float) -> int:
    bodies = notifications(alerts, groups)
    per_group = [alerts // groups + (1 if g < alerts % groups else 0) for g in range(groups)]
    prefix = f"firebreak-bench:{uuid4().hex}:"
    redis = Redis.from_url(REDIS_URL)
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate, database)
        async with SlackEmulator() as slack:
            settings = Settings(
                _env_file=None,
                slack_bot_token="xoxb-bench",
                slack_signing_secret="bench",
                slack_api_url=slack.url,
                database_url=database,
                redis_url=REDIS_URL,
                redis_prefix=prefix,
                alertmanager_token=TOKEN,
                incidents_channel=slack.add_channel("incidents"),
                alerts_channel=slack.add_channel("alerts"),
                card_update_interval=card_interval,
                log_level="warning",
            )
            configure_logging(settings)
            app = build_server(settings)
            runner, base = await serve(app)
            try:
                print(f"storm: {alerts} alerts in {groups} groups, {len(bodies)} notifications, {senders} senders")
                bot = await storm(f"{base}/webhooks/alertmanager", bodies, senders)
                started = time.perf_counter()
                await asyncio.wait_for(app[WORKER].caught_up(), timeout=1800)
                processing = time.perf_counter() - started
                await asyncio.wait_for(app[WORKER].idle(), timeout=1800)
                settled = time.perf_counter() - started
                problems = await verify(base, groups, per_group)
                calls = Counter(call.method for call in slack.calls)
                busiest = busiest_minute([call.at for call in slack.calls if call.method == "chat.update"])
            finally:
                await runner.cleanup()
        bare_runner, bare_base = await serve(bare_app(redis, f"{prefix}bare"))
        try:
            bare = await storm(f"{bare_base}/webhooks/alertmanager", bodies, senders)
        finally:
            await bare_runner.cleanup()
    stale = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
    if stale:
        await redis.delete(*stale)
    await redis.aclose()
    _report(bot, bare, (processing, settled), calls, busiest, problems)
    return 1 if problems or set(bot.statuses) != {200} else 0


def busiest_minute(times: list[float]) -> int:
    """The most calls in any 60-second window."""
    times, most, start = sorted(times), 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 60:
            start += 1
        most = max(most, end - start + 1)
    return most


def _report(
    bot: Run, bare: Run, after: tuple[float, float], calls: Counter[str], busiest: int, problems: list[str]
) -> None:
    for name, run in (("firebreak", bot), ("bare XADD", bare)):
        print(
            f"{name:>10}: {run.rate:8.0f} notifications/s   p50 {run.quantile(50):6.1f} ms   "
            f"p99 {run.quantile(99):6.1f} ms   statuses {dict(run.statuses)}"
        )
    throughput, latency = bot.rate / bare.rate, bot.quantile(50) / bare.quantile(50)
    print(f"     ratio: {throughput:.2f} x the bare throughput, p50 latency {latency:.1f} x")
    print(f"after the last reply: every alert stored in {after[0]:.1f} s, Slack caught up in {after[1]:.1f} s")
    print(f"Slack calls: {sum(calls.values())} ({', '.join(f'{m} {n}' for m, n in calls.most_common())})")
    print(f"chat.update: at most {busiest} in any minute")
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
    args = parser.parse_args()
    sys.exit(asyncio.run(bench(args.alerts, args.groups, args.senders, args.card_interval)))


if __name__ == "__main__":
    main()
