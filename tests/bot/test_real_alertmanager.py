"""A real Alertmanager (Debian's prometheus-alertmanager) posts to the running bot over loopback."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.bot.harness import ALERTMANAGER_TOKEN, Bot
from tests.processes import free_port
from tests.services import ALERTMANAGER_INSTALL, Services

GROUP_INTERVAL = 2


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 20) -> None:
    """Poll an outcome produced by another process, within a bound."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


@pytest.fixture
async def alertmanager(bot: Bot, services: Services, tmp_path: Path) -> AsyncIterator[str]:
    """Alertmanager on a free loopback port, routing every group to the bot with bearer auth.

    Required with CI=true (.ci/run installs it); elsewhere a missing binary skips the test."""
    binary = services.alertmanager.binary
    if binary is None and services.alertmanager.required:
        pytest.fail(f"prometheus-alertmanager is not installed; CI=true requires it ({ALERTMANAGER_INSTALL})")
    if binary is None:
        pytest.skip(f"prometheus-alertmanager is not installed; to run this test: {ALERTMANAGER_INSTALL}")
    webhook = bot.http.make_url("/webhooks/alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        f"""route:
  receiver: firebreak
  group_by: [alertname]
  group_wait: 1s
  group_interval: {GROUP_INTERVAL}s
  repeat_interval: 1h
receivers:
  - name: firebreak
    webhook_configs:
      - url: {webhook}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {ALERTMANAGER_TOKEN}
"""
    )
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        f"--web.external-url=http://127.0.0.1:{port}",
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                try:
                    async with session.get(f"{url}/-/ready") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(ready, "Alertmanager to start", within=15)
        yield url
    finally:
        process.terminate()
        await process.wait()
        log.close()


def _alert(instance: str, ends_at: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "CheckoutHighErrorRate",
            "severity": "critical",
            "service": "checkout",
            "instance": instance,
        },
        "annotations": {"summary": "Checkout 5xx error rate above 5%"},
        "generatorURL": "http://prometheus.example.com:9090/graph",
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat().replace("+00:00", "Z")
    return alert


async def test_real_alertmanager_fires_resolves_and_repeats(bot: Bot, alertmanager: str) -> None:
    """Fire two alerts, resolve one then the other: one incident follows them, and nothing is doubled."""

    async def kinds() -> list[str]:
        incidents = (await bot.api("/api/incidents?status=all"))["incidents"]
        if not incidents:
            return []
        return [e["kind"] for e in (await bot.api("/api/incidents/1/timeline"))["events"]]

    async with aiohttp.ClientSession() as session:

        async def post(alerts: list[dict[str, Any]]) -> None:
            async with session.post(f"{alertmanager}/api/v2/alerts", json=alerts) as response:
                assert response.status == 200, await response.text()

        await post([_alert("checkout-a:8080"), _alert("checkout-b:8080")])
        await eventually(lambda: _has(kinds, "alert_firing", 2), "both alerts on the timeline")
        past = datetime.now(UTC) - timedelta(seconds=1)
        await post([_alert("checkout-b:8080", ends_at=past)])
        await eventually(lambda: _has(kinds, "alert_resolved", 1), "the first resolution")
        await post([_alert("checkout-a:8080", ends_at=past)])
        await eventually(lambda: _has(kinds, "alert_resolved", 2), "the second resolution")

    await bot.settle()
    notices = [c for c in bot.slack.calls_to("chat.postMessage") if c.args["text"] == "All alerts resolved"]
    assert len(notices) == 1
    incident = (await bot.api("/api/incidents?status=all"))["incidents"]
    assert len(incident) == 1
    assert (incident[0]["severity"], incident[0]["declared_by"], incident[0]["source"]["kind"]) == (
        1,
        None,
        "alertmanager",
    )
    assert sorted(await kinds()) == sorted(
        ["declared", "alert_firing", "alert_firing", "runbook", "alert_resolved", "alert_resolved"]
    )
    assert len(bot.slack.calls_to("conversations.create")) == 1
    assert len(bot.slack.calls_to("pins.add")) == 1

    calls = len(bot.slack.calls)
    await asyncio.sleep(GROUP_INTERVAL + 1)  # one more group_interval: Alertmanager may re-send; nothing changes
    await bot.settle()
    assert len((await bot.api("/api/incidents?status=all"))["incidents"]) == 1
    assert len(bot.slack.calls) == calls


async def _has(kinds: Callable[[], Awaitable[list[str]]], kind: str, count: int) -> bool:
    return (await kinds()).count(kind) >= count
