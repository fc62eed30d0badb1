"""PROCESS_ROLE: a web process queues the alerts, a worker process (`worker:` in the Procfile) processes them."""

import asyncio
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from sandbox.slack_api import SlackEmulator
from storage import Keys
from tests.fixtures import ALERTMANAGER as FIXTURES
from tests.processes import BotProcess, start_process

TOKEN = "roles-token"


def _env(database_url: str, redis_url: str, keys: Keys, slack: SlackEmulator, role: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-roles",
        "SLACK_SIGNING_SECRET": "roles-secret",
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": keys.prefix,
        "ALERTMANAGER_TOKEN": TOKEN,
        "LOG_LEVEL": "warning",
        "PROCESS_ROLE": role,
    }


async def _incidents(http: aiohttp.ClientSession, web: BotProcess) -> list[dict[str, object]]:
    async with http.get(f"{web.url}/api/incidents?status=all") as response:
        incidents: list[dict[str, object]] = (await response.json())["incidents"]
        return incidents


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.timeout(120)
async def test_a_worker_process_processes_what_a_web_process_queued(
    database_url: str, redis_url: str, keys: Keys, redis: Redis, slack: SlackEmulator, tmp_path: Path
) -> None:
    """A web process answers the webhook and leaves the notification queued; a worker process, which serves no
    webhook, declares its incident."""
    web = await start_process(_env(database_url, redis_url, keys, slack, "web"), tmp_path, "web")
    worker: BotProcess | None = None
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        body = (FIXTURES / "01-firing-single-critical.json").read_bytes()
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{web.url}/webhooks/alertmanager", data=body, headers=headers) as response:
                assert response.status == 200
                assert (await response.json())["status"] == "accepted"
            await asyncio.sleep(1.5)  # longer than a worker's blocking read: a web process reads none
            assert await redis.xlen(keys.alert_inbox_priority()) == 1
            assert await _incidents(http, web) == []
            worker = await start_process(_env(database_url, redis_url, keys, slack, "worker"), tmp_path, "worker")
            async with http.post(f"{worker.url}/webhooks/alertmanager", data=body, headers=headers) as response:
                assert response.status == 404
            for _ in range(100):  # bounded: 10 s, until the worker has acknowledged the entry
                if not await redis.xlen(keys.alert_inbox_priority()):
                    break
                await asyncio.sleep(0.1)
            incidents = await _incidents(http, web)
        assert [incident["severity"] for incident in incidents] == [1]
        assert await redis.xlen(keys.alert_inbox_priority()) == 0
    finally:
        await web.stop()
        if worker is not None:
            await worker.stop()
