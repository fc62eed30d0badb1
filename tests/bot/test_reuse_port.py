"""REUSE_PORT: several bot processes on one host serve one port; without it a second start on a taken port
fails with a clear message."""

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from sandbox.slack_api import SlackEmulator
from storage import Keys
from tests.processes import ROOT, BotProcess, free_port, holds_listener, start_process


def _env(database_url: str, redis_url: str, keys: Keys, slack: SlackEmulator, reuse: bool) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-reuse",
        "SLACK_SIGNING_SECRET": "reuse-secret",
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": keys.prefix,
        "LOG_LEVEL": "warning",
        "REUSE_PORT": str(reuse).lower(),
    }


async def _listens(bot: BotProcess, port: int) -> bool:
    for _ in range(100):  # bounded: 5 s
        if holds_listener(bot.process.pid, port):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.timeout(120)
async def test_two_processes_share_a_port_and_either_serves_it_alone(
    database_url: str, redis_url: str, keys: Keys, slack: SlackEmulator, tmp_path: Path
) -> None:
    port = free_port()
    env = _env(database_url, redis_url, keys, slack, reuse=True)
    first = await start_process(env, tmp_path, "first", port)
    second: BotProcess | None = None
    try:
        second = await start_process(env, tmp_path, "second", port)
        assert await _listens(first, port)
        assert await _listens(second, port)  # its own socket, not the first's answering for it
        await first.kill()
        async with aiohttp.ClientSession() as http:
            for _ in range(5):  # a new connection each time: the kernel has only the second to give it to
                async with http.get(f"http://127.0.0.1:{port}/readyz", headers={"Connection": "close"}) as response:
                    assert response.status == 200
        assert second.process.returncode is None
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


@pytest.mark.timeout(120)
async def test_a_second_start_on_a_taken_port_fails_and_says_why(
    database_url: str, redis_url: str, keys: Keys, slack: SlackEmulator, tmp_path: Path
) -> None:
    port = free_port()
    first = await start_process(_env(database_url, redis_url, keys, slack, reuse=False), tmp_path, "first", port)
    try:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOST": "127.0.0.1", "PORT": str(port)}
        env |= _env(database_url, redis_url, keys, slack, reuse=False)
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(second.communicate(), timeout=60)
        assert second.returncode == 2
        assert f"127.0.0.1:{port} is taken by another process; REUSE_PORT=true" in stderr.decode()
        assert "Traceback" not in stderr.decode()
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as response:
            assert response.status == 200  # the first goes on serving
    finally:
        await first.stop()
