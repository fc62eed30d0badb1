"""An Alertmanager storm against the real bot, beside a bare aiohttp handler doing one Redis XADD.

    python -m bench.alert_storm [--alerts 10000] [--groups 200] [--senders 50] [--database sqlite|postgresql]
                                [--workers 0]

The bot runs as `python -m bot` in a process of its own (with `--workers N`: a web process, PROCESS_ROLE=web,
beside N alert workers, PROCESS_ROLE=worker), as do the anchor (`bench.anchor_xadd`) and the Slack emulator
(`bench.slack_process`); this process sends the load, on real HTTP on 127.0.0.1, real Redis, SQLite in a temporary
directory or a fresh PostgreSQL database. Each group's notifications go out as Alertmanager sends them (every
notification carries all of the group's alerts so far); reports throughput, latency, processing time, the
bot's CPU per notification and Slack calls (with the busiest minute of chat.update); then checks that there
is exactly one incident per group with every alert on its timeline. Environment: BENCH_LOG_LEVEL (warning),
BENCH_LOGS=DIR keeps each process's log, BENCH_SLACK_TAIL=0 does not wait for Slack to catch up,
BENCH_BACKLOG=1 (with --workers) starts the workers only after the storm, to time processing alone.

The bot runs with an on-call configuration that pages on declare (SEV-1, which `critical` maps to): every storm
group pages the storm rotation. Halfway through the storm a new critical group of another service arrives; its
page latency is the time from the webhook's reply to that notification to the emulator receiving the page DM.
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bench.slash_load import (
    REDIS_URL,
    bot_env,
    cpu_seconds,
    database_url,
    forget,
    free_port,
    process,
    served,
    served_pid,
)
from storage import Keys

TOKEN = "bench-token"
PER_NOTIFICATION = 50  # Alertmanager sends the whole group; beyond this, `truncatedAlerts` counts the rest
STORM_ONCALL, NEW_ONCALL = "U0STORM", "U0NEWGROUP"
NEW_GROUP = 99_999  # the group number of the critical group that arrives mid-storm


@dataclass(frozen=True)
class SlackCall:
    method: str
    at: float  # time.monotonic() in the emulator's process: the same clock as this one's
    dm_user: str | None  # the person a post in a DM went to


@dataclass(frozen=True)
class RemoteSlack:
    """The Slack emulator in its own process (`bench.slack_process`), read over HTTP."""

    base: str
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"{self.base}/api/"

    async def calls(self) -> list[SlackCall]:
        async with self.http.get(f"{self.base}/bench/calls") as response:
            return [SlackCall(**call) for call in await response.json()]


@contextlib.asynccontextmanager
async def slack_process(workdir: Path, channels: dict[str, str]) -> AsyncIterator[RemoteSlack]:
    """Start the emulator in a process of its own, with `channels` (id: name) seeded."""
    port = free_port()
    args = [sys.executable, "-m", "bench.slack_process", str(port), *(f"{c}={n}" for c, n in channels.items())]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(Path(__file__).parent.parent)}
    async with process(args, env, port, workdir / "slack.log") as base, aiohttp.ClientSession() as http:
        yield RemoteSlack(base, http)


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


def oncall() -> dict[str, Any]:
    """Page on declare at SEV-1: the storm's groups page one rotation, the `checkout` service another."""
    rotation = {"shift": "1w", "handoff": "2026-01-05T09:00"}
    return {
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
    }


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
    """Serve `app` on a free port of 127.0.0.1 in this process (bench.pager and bench.metrics)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


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
    cpu: dict[str, float]  # each bot process's CPU seconds by name, from its start (idle until then) to the last stored


async def run_bot(
    env: dict[str, str], workdir: Path, slack: RemoteSlack, bodies: list[bytes], senders: int, workers: int
) -> Outcome:
    """The storm against the real bot in its own processes, then its processing, its Slack work and the check."""
    per_group = Counter(int(json.loads(body)["groupKey"].split("Storm")[1].rstrip('"}')) for body in bodies)
    expected = dict(per_group) | {NEW_GROUP: 1}
    (workdir / "oncall.yaml").write_text(json.dumps(oncall()))  # JSON is YAML
    env = env | {"ONCALL_CONFIG": str(workdir / "oncall.yaml"), "PROCESS_ROLE": "web" if workers else "all"}
    redis = Redis.from_url(REDIS_URL)
    cpu: dict[str, tuple[int, float]] = {}  # name -> pid, its CPU seconds once it answered (idle until the storm)

    async def start(bot_env: dict[str, str], name: str) -> str:
        base, started = await stack.enter_async_context(_bot(bot_env, workdir, name))
        pid = served_pid(started)
        cpu[name] = pid, cpu_seconds(pid)
        return base

    async with contextlib.AsyncExitStack() as stack:
        base = await start(env, "bot")
        backlog = workers and os.environ.get("BENCH_BACKLOG") == "1"  # the workers start after the storm
        for n in range(0 if backlog else workers):
            await start(env | {"PROCESS_ROLE": "worker"}, f"worker-{n}")
        storm_started = time.perf_counter()
        bot, replied = await storm(f"{base}/webhooks/alertmanager", bodies, senders, halfway=new_group())
        for n in range(workers if backlog else 0):
            await start(env | {"PROCESS_ROLE": "worker"}, f"worker-{n}")
        started = time.perf_counter()
        await asyncio.wait_for(_caught_up(redis, Keys(env["REDIS_PREFIX"])), timeout=1800)
        processed = time.perf_counter()
        used = {name: cpu_seconds(pid) - at for name, (pid, at) in cpu.items()}
        settled = float("nan")
        if os.environ.get("BENCH_SLACK_TAIL", "1") == "1":  # BENCH_SLACK_TAIL=0: do not wait for Slack to catch up
            settled = await asyncio.wait_for(_quiet(slack), timeout=1800) - started
        else:
            await asyncio.wait_for(_paged(slack), timeout=60)
        calls = await slack.calls()
        paged = [c.at for c in calls if c.method == "chat.postMessage" and c.dm_user == NEW_ONCALL]
        problems = await verify(base, expected)
    await redis.aclose()
    if not paged:
        problems.append("the mid-storm group was never paged")
    return Outcome(
        bot=bot,
        processed_in=processed - storm_started,
        settled=settled,
        stored=processed - started,
        page_latency=(paged[0] - replied) if paged else float("nan"),
        calls=Counter(call.method for call in calls),
        busiest=busiest_minute([call.at for call in calls if call.method == "chat.update"]),
        problems=problems,
        cpu=used,
    )


def _bot(
    env: dict[str, str], workdir: Path, name: str
) -> contextlib.AbstractAsyncContextManager[tuple[str, asyncio.subprocess.Process]]:
    port, args = free_port(), [sys.executable, "-m", "bot"]
    if "BENCH_PROFILE" in env:  # py-spy (pip install py-spy) samples each bot process into BENCH_PROFILE/NAME.txt
        args = [
            "py-spy",
            "record",
            "--rate",
            "250",
            "--format",
            "raw",
            "-o",
            f"{env['BENCH_PROFILE']}/{name}.txt",
            "--",
            *args,
        ]
    logs = Path(os.environ.get("BENCH_LOGS", workdir))  # BENCH_LOGS=DIR keeps each process's log there
    return served(args, env | {"PORT": str(port)}, port, logs / f"{name}.log")


async def _caught_up(redis: Redis, keys: Keys) -> None:
    """Until both intake lanes are empty: the worker deletes each entry once processed."""
    while True:
        waiting = await redis.xlen(keys.alert_inbox()) + await redis.xlen(keys.alert_inbox_priority())
        if not waiting:
            return
        await asyncio.sleep(0.05)


async def _paged(slack: RemoteSlack) -> None:
    """Until the mid-storm group's on-call person has a DM."""
    while True:
        if any(c.method == "chat.postMessage" and c.dm_user == NEW_ONCALL for c in await slack.calls()):
            return
        await asyncio.sleep(0.05)


async def _quiet(slack: RemoteSlack, quiet: float = 3.0) -> float:
    """When (perf_counter) the last Slack call arrived, once none has arrived for `quiet` seconds."""
    count, last = len(await slack.calls()), time.perf_counter()
    while time.perf_counter() - last < quiet:
        await asyncio.sleep(0.1)
        if (now := len(await slack.calls())) != count:
            count, last = now, time.perf_counter()
    return last


async def bench(
    alerts: int, groups: int, senders: int, card_interval: float, database: str, workers: int, profile: Path | None
) -> int:
    bodies = notifications(alerts, groups)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        channels = {"C0INCIDENTS": "incidents", "C0ALERTS": "alerts"}
        async with slack_process(workdir, channels) as slack, database_url(database, workdir) as url:
            env = bot_env(slack.url, url, 0, workdir) | {
                "ALERTMANAGER_TOKEN": TOKEN,
                "INCIDENTS_CHANNEL": "C0INCIDENTS",
                "ALERTS_CHANNEL": "C0ALERTS",
                "CARD_UPDATE_INTERVAL": str(card_interval),
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
            }
            if profile is not None:
                env["BENCH_PROFILE"] = str(profile)
            processes = f"a web process and {workers} worker(s)" if workers else "one process"
            print(
                f"storm: {alerts} alerts in {groups} groups, {len(bodies)} notifications, {senders} senders, "
                f"{database}, the bot in {processes}"
            )
            outcome = await run_bot(env, workdir, slack, bodies, senders, workers)
        port, stream = free_port(), f"{env['REDIS_PREFIX']}bare"
        anchor = [sys.executable, "-m", "bench.anchor_xadd", str(port), REDIS_URL, stream]
        async with process(anchor, env, port, workdir / "anchor.log") as bare_base:
            bare, _ = await storm(f"{bare_base}/webhooks/alertmanager", bodies, senders)
    await forget(env["REDIS_PREFIX"])
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
    each = ", ".join(f"{name} {seconds / count * 1e6:.0f}" for name, seconds in outcome.cpu.items())
    print(
        f"  bot CPU: {sum(outcome.cpu.values()) / count * 1e6:.0f} us per notification ({each}; until the last stored)"
    )
    if os.environ.get("BENCH_BACKLOG") == "1":
        print(f"  backlog: {count / outcome.stored:.0f} notifications/s (the workers, started after the storm)")
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
    parser.add_argument("--workers", type=int, default=0, help="alert workers beside a web process (0: one process)")
    parser.add_argument("--profile", metavar="DIR", type=Path, help="sample each bot process with py-spy into DIR")
    args = parser.parse_args()
    sys.exit(
        asyncio.run(
            bench(
                args.alerts,
                args.groups,
                args.senders,
                args.card_interval,
                args.database,
                args.workers,
                args.profile.absolute() if args.profile else None,
            )
        )
    )


if __name__ == "__main__":
    main()
