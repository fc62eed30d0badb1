"""Overload through the running bot: past its bound of Slack requests in flight, a command is answered busy."""

import asyncio
from collections.abc import Awaitable, Callable

from structlog.testing import capture_logs

from domain.paging_config import load_config
from tests.bot.harness import Bot

ONCALL = load_config(
    {
        "timezone": "UTC",
        "rotations": {"primary": {"members": ["U0PRIMARY"], "shift": "1w", "handoff": "2026-01-05T09:00"}},
        "escalation_policies": {"platform": {"steps": [{"targets": ["rotation:primary"], "ack_timeout": "5m"}]}},
        "default_escalation_policy": "platform",
        "page_on_declare": [],
    },
    "test-oncall.yaml",
)


async def test_command_past_the_bound_is_answered_busy_and_not_run(
    start_bot: Callable[..., Awaitable[Bot]],
) -> None:
    """With one request in flight and a bound of one, a second command is answered busy at once and not run."""
    bot = await start_bot(oncall=ONCALL, slack_concurrency=1, pager_interval=3600, pager_wake=False)
    await bot.declare("Checkout is down sev3")
    release = bot.slack.hold("conversations.open")  # `page @user` opens the DM while deciding
    paging = asyncio.create_task(bot.command("#1 page <@U0BUSY>"))
    await bot.slack.wait_for("conversations.open")
    with capture_logs() as logs:
        busy = await bot.command("#1 note while busy")
    release.set()
    assert "Paging <@U0BUSY>" in await paging
    assert "not* run" in busy
    assert [e["shed"] for e in logs if e["event"] == "slack_requests_shed"] == [1]
    await bot.command("#1 note once it is quiet")
    notes = [e["text"] for e in (await bot.api("/api/incidents/1/timeline"))["events"] if e["kind"] == "note"]
    assert notes == ["once it is quiet"]
