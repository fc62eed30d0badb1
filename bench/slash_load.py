"""Signed slash commands at fixed rates (an open loop) against the real bot, beside Bolt's ack-only listener.

    python -m bench.slash_load [--rates 50,100,200,400] [--seconds 10] [--database sqlite|postgresql] [--processes N]

The bot (`python -m bot`) and the anchor (`bench.anchor_bolt`, Bolt's own ack-only listener) each run in a
process of their own; this process sends the load and serves the fake Slack Web API. The mix, over 20
incidents declared first: 40 % note, 20 % status, 20 % list, 10 % ack, 10 % declare. Requests go out on
schedule whether or not earlier ones were answered (an open loop), so a slow bot shows as latency and
errors, not as a lower offered rate. Reports p50, p99 and max latency and the status counts per rate, with
the bot's p99 as a ratio to the anchor's, and each server's CPU time per command, read from /proc from the
rate's first request until the server is idle again (the bot's queued Slack work included): on a machine
whose load moves, that is the steadier figure. On PostgreSQL, while the bot is under load, a probe commits
one row at a time (20 a second) beside it and reports how long PostgreSQL took to make a commit durable:
a command that writes cannot answer sooner than its commit, so that is the floor under the bot's p99 on
this disk. `--processes N` runs N bots on the one port (`REUSE_PORT`: the kernel spreads the connections),
as N replicas on one host would; their CPU time is added up.
"""

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode
from uuid import uuid4

import aiohttp
import psycopg
from psycopg import sql
from redis.asyncio import Redis

from sandbox.slack_api import SlackEmulator
from storage import migrate
from tests.bot.harness import sign
from tests.processes import holds_listener

SECRET = "bench-signing-secret"
ROOT = Path(__file__).resolve().parents[1]
INCIDENTS = 20
TIMEOUT = 5.0  # Slack gives up after 3 s; we wait a little longer to see how late the answers are
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
_TICK = os.sysconf("SC_CLK_TCK")
BUSY = b"was *not* run"  # the bot's answer past its bound of requests in flight (an answer, counted apart)


@dataclass(frozen=True)
class Result:
    latencies: list[float]
    statuses: Counter[str]
    kinds: dict[str, list[float]] = field(default_factory=dict)  # latencies by subcommand

    def ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    def line(self, name: str, rate: int) -> str:
        counts = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        p50, p99, top = self.ms(0.5), self.ms(0.99), max(self.latencies, default=0) * 1000
        return f"{name:>7} {rate:>4}/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {top:7.1f} ms  {counts}"

    def by_kind(self) -> str:
        p99 = {kind: Result(times, Counter()).ms(0.99) for kind, times in self.kinds.items()}
        return "         p99 by subcommand: " + ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(p99.items()))


def cpu_seconds(pid: int) -> float:
    """User and system time of the process so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


async def cpu_until_idle(pids: Sequence[int], since: float, limit: float = 60) -> float:
    """CPU seconds the processes have used since `since` (their `cpu_seconds` readings added), once they have
    gone idle: less than 2 % of a core over half a second (their background loops), or after `limit` seconds."""
    loop = asyncio.get_running_loop()
    deadline, last = loop.time() + limit, _cpu(pids)
    while loop.time() < deadline:
        await asyncio.sleep(0.5)
        now = _cpu(pids)
        if now - last < 0.01:
            return now - since
        last = now
    return _cpu(pids) - since


def _cpu(pids: Sequence[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


async def forget(prefix: str) -> None:
    """Delete the run's Redis keys (its own prefix; never anything else on the shared server)."""
    redis = Redis.from_url(REDIS_URL)
    stale = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
    if stale:
        await redis.delete(*stale)
    await redis.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _form(text: str, user: str, trigger: str) -> str:
    return urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": user,
            "user_name": user.lower(),
            "channel_id": "C0GENERAL",
            "team_id": "T0BENCH",
            "trigger_id": trigger,
            "response_url": "http://127.0.0.1:9/none",
        }
    )


def _command(rng: random.Random, n: int) -> str:
    incident = rng.randint(1, INCIDENTS)
    roll = rng.random()
    if roll < 0.4:
        return f"#{incident} note load note {n}"
    if roll < 0.6:
        return f"#{incident} status {rng.choice(['investigating', 'identified', 'monitoring'])}"
    if roll < 0.8:
        return "list"
    if roll < 0.9:
        return f"#{incident} ack"
    return f"declare Load incident {n} sev3"


async def _send(http: aiohttp.ClientSession, url: str, text: str, result: Result) -> None:
    body = _form(text, f"U{uuid4().hex[:8].upper()}", f"trigger-{uuid4().hex}")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret=SECRET)}
    started = time.perf_counter()
    try:
        async with http.post(url, data=body.encode(), headers=headers) as response:
            reply = await response.read()
            status = "busy" if BUSY in reply else str(response.status)
    except TimeoutError:
        status = "timeout"
    except aiohttp.ClientError as error:
        status = type(error).__name__
    result.latencies.append(time.perf_counter() - started)
    result.statuses[status] += 1
    result.kinds.setdefault(text.split()[1] if text.startswith("#") else text.split()[0], []).append(
        result.latencies[-1]
    )


async def open_loop(http: aiohttp.ClientSession, url: str, rate: int, seconds: float, seed: int) -> Result:
    """Send `rate` commands a second for `seconds`, each at its scheduled time."""
    rng, result = random.Random(seed), Result([], Counter())
    loop = asyncio.get_running_loop()
    start, tasks = loop.time(), []
    for n in range(int(rate * seconds)):
        delay = start + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_send(http, url, _command(rng, n), result)))
    await asyncio.gather(*tasks)
    return result


@asynccontextmanager
async def process(args: list[str], env: dict[str, str], port: int, log: Path) -> AsyncIterator[str]:
    """Run `args` (a server on 127.0.0.1:`port`) until the context ends; its base URL once it answers /healthz."""
    async with served(args, env, port, log) as (base, _):
        yield base


@asynccontextmanager
async def served(
    args: list[str], env: dict[str, str], port: int, log: Path
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """`process`, also giving the process (bench.intake reads its CPU time)."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(*args, cwd=ROOT, env=env, stdout=out, stderr=out)
        base = f"http://127.0.0.1:{port}"
        try:
            await _wait_healthy(base, process)
            yield base, process
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT; the bot stops cleanly
            await process.wait()


async def _wait_healthy(base: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            if process.returncode is not None:
                raise SystemExit(f"process exited with {process.returncode}; see its log")
            try:
                async with http.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit(f"{base} did not become healthy")


@asynccontextmanager
async def database_url(kind: str, workdir: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        migrate(url)
        yield url
        return
    name = f"firebreak_bench_{uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
        migrate(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def bot_env(slack_url: str, database: str, port: int, workdir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_url,
        "DATABASE_URL": database,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"firebreak-bench:{uuid4().hex}:",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DATA_DIR": str(workdir),
        "LOG_LEVEL": "warning",
    }


async def _declare_incidents(http: aiohttp.ClientSession, url: str) -> None:
    warmup = Result([], Counter())
    for n in range(INCIDENTS):
        await _send(http, url, f"declare Bench incident {n} sev3", warmup)
    if warmup.statuses != Counter({"200": INCIDENTS}):
        raise SystemExit(f"declaring the bench incidents failed: {dict(warmup.statuses)}")


async def main(
    rates: list[int],
    seconds: float,
    database: str,
    profile: str | None = None,
    bot_log: str | None = None,
    processes: int = 1,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        async with SlackEmulator() as slack, database_url(database, workdir) as db_url:
            bot_port, anchor_port = free_port(), free_port()
            bot_args = [sys.executable, "-m", "bot"]
            if profile:  # py-spy (pip install py-spy) samples the bot while it serves the load
                bot_args = ["py-spy", "record", "--format", "raw", "-o", profile, "--", *bot_args]
            anchor_args = [sys.executable, "-m", "bench.anchor_bolt", str(anchor_port), SECRET, slack.url]
            env = bot_env(slack.url, db_url, bot_port, workdir) | {"REUSE_PORT": str(processes > 1).lower()}
            timeout = aiohttp.ClientTimeout(total=TIMEOUT)
            bot_log_path = Path(bot_log) if bot_log else workdir / "bot.log"
            async with (
                _bots(bot_args, env, bot_port, bot_log_path, processes) as (bot_base, bot_pids),
                served(anchor_args, env, anchor_port, workdir / "anchor.log") as (anchor_base, anchor_process),
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http,
            ):
                bot_url, anchor_url = bot_base + "/slack/events", anchor_base + "/slack/events"
                await _declare_incidents(http, bot_url)
                bots = f", {processes} bot processes on one port" if processes > 1 else ""
                print(f"slash_load: {database}, {seconds:g} s per rate, open loop, {INCIDENTS} incidents{bots}")
                for rate in rates:
                    anchor, anchor_cpu = await _timed(http, anchor_url, [anchor_process.pid], rate, seconds)
                    async with _commit_probe(db_url if database == "postgresql" else None) as commits:
                        bot, bot_cpu = await _timed(http, bot_url, bot_pids, rate, seconds)
                    print(anchor.line("anchor", rate) + f"  CPU {anchor_cpu * 1000:.2f} ms/command")
                    print(
                        bot.line("bot", rate)
                        + f"  CPU {bot_cpu * 1000:.2f} ms/command"
                        + f"  p99 x anchor {bot.ms(0.99) / max(anchor.ms(0.99), 0.001):.1f}"
                        + f"  CPU x anchor {bot_cpu / max(anchor_cpu, 1e-6):.1f}"
                    )
                    print(bot.by_kind())
                    if commits.latencies:
                        print(commits.line("commit", 20) + "  (a bare INSERT and COMMIT beside the bot)")
            await forget(env["REDIS_PREFIX"])  # once the bot has stopped


@asynccontextmanager
async def _commit_probe(url: str | None, every: float = 0.05) -> AsyncIterator[Result]:
    """Commit one row at a time every `every` seconds into the database at `url` (none: nothing) while the
    context lasts; the result holds each commit's latency."""
    result = Result([], Counter())
    if url is None:
        yield result
        return
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await connection.execute("CREATE TABLE IF NOT EXISTS bench_commit_probe (n integer)")

        async def probe() -> None:
            while True:
                started = time.perf_counter()
                await connection.execute("INSERT INTO bench_commit_probe VALUES (1)")
                result.latencies.append(time.perf_counter() - started)
                result.statuses["ok"] += 1
                await asyncio.sleep(every)

        task = asyncio.create_task(probe())
        try:
            yield result
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _timed(
    http: aiohttp.ClientSession, url: str, pids: Sequence[int], rate: int, seconds: float
) -> tuple[Result, float]:
    """`open_loop`, and the servers' CPU seconds per command until they are idle again."""
    before = _cpu(pids)
    result = await open_loop(http, url, rate, seconds, seed=rate)
    return result, await cpu_until_idle(pids, before) / max(len(result.latencies), 1)


@asynccontextmanager
async def _bots(
    args: list[str], env: dict[str, str], port: int, log: Path, processes: int
) -> AsyncIterator[tuple[str, list[int]]]:
    """`processes` bots serving `port` (with `REUSE_PORT` when more than one), each listening before this
    yields; the base URL and their pids."""
    async with contextlib.AsyncExitStack() as stack:
        pids = []
        for n in range(processes):
            path = log if n == 0 else log.with_name(f"{log.stem}-{n}{log.suffix}")
            base, started = await stack.enter_async_context(served(args, env, port, path))
            pid = served_pid(started)
            pids.append(pid)
            await _listening(pid, port)
        yield base, pids


async def _listening(pid: int, port: int) -> None:
    """Until process `pid` itself holds a socket listening on `port` (/proc/net/tcp's listeners matched to its
    descriptors): with several processes on one port, another's answer to /healthz proves nothing."""
    for _ in range(200):
        if holds_listener(pid, port):
            return
        await asyncio.sleep(0.05)
    raise SystemExit(f"process {pid} never listened on port {port}")


def served_pid(process: asyncio.subprocess.Process) -> int:
    """The server's own pid: under py-spy (`--profile`) its child's, whose CPU time and sockets are the ones
    to read (py-spy's own would be measured instead)."""
    if "py-spy" not in Path(f"/proc/{process.pid}/cmdline").read_text():
        return process.pid
    return int(Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()[0])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,100,200,400")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--profile", metavar="FILE", help="sample the bot with py-spy into FILE (collapsed stacks)")
    parser.add_argument("--bot-log", metavar="FILE", help="keep the bot's log (warnings and errors) in FILE")
    parser.add_argument("--processes", type=int, default=1, help="bot processes sharing the port (REUSE_PORT)")
    options = parser.parse_args()
    if options.profile and options.processes > 1:
        parser.error("--profile samples one bot process: leave --processes at 1")
    rates = [int(r) for r in options.rates.split(",")]
    asyncio.run(main(rates, options.seconds, options.database, options.profile, options.bot_log, options.processes))
