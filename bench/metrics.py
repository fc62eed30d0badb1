"""The numbers over 100,000 stored incidents: `/incident stats`, `/api/metrics/incidents` and a `/metrics` scrape.

    python -m bench.metrics [--incidents 100000] [--requests 20] [--database-url postgresql://…]

Seeds the incidents straight into SQL (90 days of them: 2 % still open, 1 % drills, twelve services), starts the
real bot on 127.0.0.1 with the fake Slack API, then times signed `/incident stats 90d` commands through
`/slack/events`, API calls and scrapes. Passes when each p50 is under its budget (200 ms, 200 ms, 50 ms).
"""

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import aiohttp
import sqlalchemy

from bench.alert_storm import serve
from bench.slash_load import REDIS_URL
from bot.logging import configure_logging
from bot.server import build_server
from bot.settings import Settings
from sandbox.slack_api import SlackEmulator
from storage import migrate, sync_url
from storage.incident_rows import IncidentRow
from tests.bot.harness import sign

SECRET = "bench-signing-secret"
SERVICES = [f"service-{n}" for n in range(12)]
TARGETS = {1: (900, 4 * 3600), 2: (3600, 24 * 3600), 3: (4 * 3600, 7 * 86400), 4: (86400, 14 * 86400)}
BUDGETS = {"/incident stats 90d": 200.0, "GET /api/metrics/incidents?window=90d": 200.0, "GET /metrics": 50.0}


def seed(url: str, count: int, now: datetime) -> None:
    """Insert `count` incidents with explicit event times and due times, in batches."""
    rng = random.Random(12)
    engine = sqlalchemy.create_engine(sync_url(url))
    rows = [_row(rng, now, n) for n in range(count)]
    with engine.begin() as connection:
        for start in range(0, count, 5000):
            connection.execute(sqlalchemy.insert(IncidentRow), rows[start : start + 5000])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # steady state, as autovacuum would leave it: statistics, and PostgreSQL's visibility map (index-only scans)
        connection.execute(sqlalchemy.text("VACUUM ANALYZE incidents" if url.startswith("postgres") else "ANALYZE"))
    engine.dispose()


def _row(rng: random.Random, now: datetime, n: int) -> dict[str, Any]:
    """One incident, fully set up in Slack (else the repair sweep would open channels for the open ones)."""
    severity = rng.choices([1, 2, 3, 4], weights=[5, 15, 50, 30])[0]
    declared = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
    ack_seconds = rng.lognormvariate(6.5, 1.0)
    resolve_seconds = ack_seconds + rng.lognormvariate(9.0, 1.2)
    still_open = rng.random() < 0.02
    response, resolution = TARGETS[severity]
    resolved = None if still_open else declared + timedelta(seconds=resolve_seconds)
    return {
        "title": "Bench incident",
        "description": "",
        "severity": severity,
        "status": "investigating" if still_open else "resolved",
        "commander": None,
        "declared_by": "U0BENCH",
        "declared_at": declared,
        "acknowledged_at": declared + timedelta(seconds=ack_seconds),
        "resolved_at": resolved,
        "summary": "",
        "roles": {},
        "channel_id": f"C{n:09d}",
        "channel_name": f"inc-{n}",
        "card_ts": "1.0",
        "announcement_ts": "1.0",
        "service": rng.choice(SERVICES),
        "drill": rng.random() < 0.01,
        "ack_seconds": ack_seconds,
        "resolve_seconds": None if still_open else resolve_seconds,
        "response_due_at": declared + timedelta(seconds=response),
        "resolution_due_at": declared + timedelta(seconds=resolution),
        "revision": 1,
    }


async def timed(requests: int, calls: dict[str, Callable[[], Awaitable[int]]]) -> dict[str, list[float]]:
    """Milliseconds of each call: `requests` rounds of one call of each kind in turn (a change in the machine's
    load touches every kind alike), after one warm-up round; each must answer 200."""
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(requests + 1):
        for name, call in calls.items():
            started = time.perf_counter()
            status = await call()
            assert status == 200, status
            if round_:
                latencies[name].append((time.perf_counter() - started) * 1000)
    return latencies


async def bench(incidents: int, requests: int, database_url: str | None) -> int:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate, url)
        started = time.perf_counter()
        await asyncio.to_thread(seed, url, incidents, now)
        print(f"seeded {incidents} incidents in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")
        async with SlackEmulator() as slack:
            settings = Settings(
                _env_file=None, slack_bot_token="xoxb-bench", slack_signing_secret=SECRET, slack_api_url=slack.url,
                database_url=url, redis_url=REDIS_URL, redis_prefix=f"firebreak-bench:{uuid4().hex}:",
                log_level="warning", data_dir=Path(tmp),
            )  # fmt: skip
            configure_logging(settings)
            runner, base = await serve(build_server(settings))
            try:
                async with aiohttp.ClientSession() as session:
                    results = await _measure(session, base, requests)
            finally:
                await runner.cleanup()
    failed = 0
    for name, latencies in results.items():
        p50, worst = statistics.median(latencies), max(latencies)
        ok = p50 < BUDGETS[name]
        failed += not ok
        verdict = "ok" if ok else "SLOW"
        print(f"{name:42} p50 {p50:7.1f} ms   max {worst:7.1f} ms   budget {BUDGETS[name]:.0f} ms   {verdict}")
    print("PASS" if not failed else "FAIL")
    return 1 if failed else 0


async def _measure(session: aiohttp.ClientSession, base: str, requests: int) -> dict[str, list[float]]:
    async def stats() -> int:
        form = {
            "team_id": "T0BENCH", "channel_id": "C0BENCH", "user_id": "U0BENCH", "command": "/incident",
            "text": "stats 90d", "response_url": f"{base}/nowhere", "trigger_id": uuid4().hex,
        }  # fmt: skip
        body = urlencode(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret=SECRET)}
        async with session.post(f"{base}/slack/events", data=body, headers=headers) as response:
            text = await response.text()
            assert "table" in text, text
            return response.status

    async def get(path: str) -> int:
        async with session.get(f"{base}{path}") as response:
            await response.read()
            return response.status

    return await timed(
        requests,
        {
            "/incident stats 90d": stats,
            "GET /api/metrics/incidents?window=90d": lambda: get("/api/metrics/incidents?window=90d"),
            "GET /metrics": lambda: get("/metrics"),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    sys.exit(asyncio.run(bench(args.incidents, args.requests, args.database_url)))


if __name__ == "__main__":
    main()
