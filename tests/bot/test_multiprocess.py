"""Three bot processes on one Redis and one PostgreSQL: a storm of declarations, each page exactly once,
and a process killed mid-run loses nothing."""

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode
from uuid import uuid4

import aiohttp
import pytest

from sandbox.slack_api import SlackEmulator
from storage import Keys
from tests.bot.harness import SIGNING_SECRET, sign
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
PRIMARY, MANAGER = "U0PRIMARY", "U0MANAGER"
DECLARATIONS = 24
CONFIG = f"""
rotations:
  primary: {{members: [{PRIMARY}], shift: 1w, handoff: "2026-01-05T09:00"}}
escalation_policies:
  platform:
    steps:
      - {{targets: ["rotation:primary"], ack_timeout: 2s}}
      - {{targets: ["user:{MANAGER}"], ack_timeout: 2s}}
default_escalation_policy: platform
page_on_declare: [1]
"""


@pytest.fixture
async def fleet(
    database_url: str, redis_url: str, keys: Keys, redis: object, slack: SlackEmulator, tmp_path: Path
) -> AsyncIterator[list[tuple[asyncio.subprocess.Process, str]]]:
    """Three `python -m bot` processes sharing the test's Redis prefix and PostgreSQL database."""
    config = tmp_path / "oncall.yaml"
    config.write_text(CONFIG)
    incidents = slack.add_channel("incidents")
    processes, logs = [], []
    for n in range(3):
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": "xoxb-fleet",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.url,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": keys.prefix,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "ONCALL_CONFIG": str(config),
            "INCIDENTS_CHANNEL": incidents,
            "RUNBOOKS_DIR": str(ROOT / "runbooks"),
            "LOG_LEVEL": "warning",
        }
        log = (tmp_path / f"bot-{n}.log").open("wb")
        logs.append(log)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env, stdout=log, stderr=log
        )
        processes.append((process, f"http://127.0.0.1:{port}"))
    try:
        async with aiohttp.ClientSession() as session:
            for _, base in processes:
                await _wait_ready(session, base)
        yield processes
    finally:
        for process, _ in processes:
            if process.returncode is None:
                process.terminate()
                await process.wait()
        for log in logs:
            log.close()


async def _wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(150):  # bounded: 30 s
        try:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{base} never became ready")


async def _declare(session: aiohttp.ClientSession, base: str, n: int) -> None:
    form = {
        "command": "/incident",
        "text": f"declare Storm incident {n} sev1",
        "user_id": "U0ALICE",
        "channel_id": "C0GENERAL",
        "team_id": "T0TEAM",
        "response_url": "http://127.0.0.1:9/unused",
        "trigger_id": f"trigger-{uuid4().hex}",
    }
    body = urlencode(form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    async with session.post(f"{base}/slack/events", data=body, headers=headers) as response:
        assert response.status == 200, await response.text()


def _pages(slack: SlackEmulator) -> Counter[tuple[str, str]]:
    """(incident title, user) → how many page DMs Slack stored, each attributed by the DM it went to."""
    return Counter(
        (str(call.args["text"]), str(slack.dm_user(str(call.args["channel"]))))
        for call in slack.calls_to("chat.postMessage")
        if call.ok and str(call.args.get("text", "")).startswith("Paged: ")
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.timeout(180)
async def test_three_processes_page_each_step_exactly_once(
    fleet: list[tuple[asyncio.subprocess.Process, str]], slack: SlackEmulator
) -> None:
    """24 SEV-1s declared across three processes, one killed mid-run: every step pages its person once."""
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(_declare(session, fleet[n % 3][1], n) for n in range(DECLARATIONS // 2)))
        victim = fleet[1][0]
        victim.send_signal(signal.SIGKILL)  # mid-run: its leases, if any, must be taken over
        await victim.wait()
        await asyncio.gather(
            *(_declare(session, fleet[(n % 2) * 2][1], n) for n in range(DECLARATIONS // 2, DECLARATIONS))
        )

    async def timelines(session: aiohttp.ClientSession) -> list[Counter[str]]:
        counts = []
        for number in range(1, DECLARATIONS + 1):
            async with session.get(f"{fleet[0][1]}/api/incidents/{number}/timeline") as response:
                counts.append(Counter(event["kind"] for event in (await response.json())["events"]))
        return counts

    async with aiohttp.ClientSession() as session:
        for _ in range(120):  # bounded: about 60 s (a killed holder's lease lasts 30 s)
            kinds = await timelines(session)
            if all(k["unanswered"] for k in kinds):
                break
            await asyncio.sleep(0.5)
    for number, k in enumerate(kinds, start=1):
        assert (k["paged"], k["escalated"], k["unanswered"]) == (2, 1, 1), (number, k)
    pages = _pages(slack)
    expected = Counter((f"Paged: Storm incident {n}", user) for n in range(DECLARATIONS) for user in (PRIMARY, MANAGER))
    assert pages == expected, {"twice": list(pages - expected), "missing": list(expected - pages)}
