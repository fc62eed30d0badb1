"""The pager under a slow Slack: due timers fire concurrently, and a page is the DM, not the channel's calls."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from handlers.paging import PAGER
from tests.bot.harness import Bot
from tests.bot.test_paging import CONFIG, PAYMENTS_LEAD, PRIMARY, dms


@pytest.fixture
async def bot(start_bot: Callable[..., Awaitable[Bot]]) -> Bot:
    """A bot whose own pager loop stays out of the way: the tests fire timers with `tick`."""
    return await start_bot(oncall=CONFIG, pager_interval=3600, pager_wake=False)


async def test_a_page_held_up_by_slack_does_not_hold_up_another(bot: Bot) -> None:
    """While one page's DM waits on Slack, the same tick pages another incident's on-call at once."""
    await bot.declare("Checkout is down sev1")  # pages PRIMARY through the platform policy
    await bot.declare("Search is slow sev3")
    await bot.command("#2 page service:checkout")  # pages PAYMENTS_LEAD through the payments policy
    release = bot.slack.hold("conversations.open")  # the first DM to open waits for Slack's answer
    ticking = asyncio.create_task(bot.http.app[PAGER].tick())
    await bot.slack.wait_for("conversations.open", 2)
    for _ in range(250):  # bounded: 5 s
        if dms(bot):
            break
        await asyncio.sleep(0.02)
    first = dms(bot)
    release.set()
    assert await ticking == 2
    await bot.settle()
    assert len(first) == 1
    assert sorted(dms(bot)) == sorted([PRIMARY, PAYMENTS_LEAD])


async def test_a_page_does_not_wait_for_a_slow_incident_channel(bot: Bot) -> None:
    """The DM goes out and the page is recorded while the incident channel's mention still waits on Slack."""
    incident = await bot.declare("Checkout is down sev1")
    bot.slack.delay("chat.postMessage", 2, channel=incident["channel_id"])
    assert await bot.http.app[PAGER].tick() == 1
    assert dms(bot) == [PRIMARY]
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    assert [e["kind"] for e in events].count("paged") == 1
    bot.slack.delay("chat.postMessage", 0)
