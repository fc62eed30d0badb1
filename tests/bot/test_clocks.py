"""Target clocks and update reminders through the running bot, fired by an injected clock."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from domain.paging_config import load_config
from handlers.metrics import METRICS
from handlers.paging import PAGER
from handlers.slack import ActionId
from tests.bot.harness import ALICE, BOB, Bot

PRIMARY, SECONDARY = "U0PRIMARY", "U0SECOND"
ONCALL = load_config(
    {
        "rotations": {
            "primary": {"members": [PRIMARY], "shift": "1w", "handoff": "2026-01-05T09:00"},
            "secondary": {"members": [SECONDARY], "shift": "1w", "handoff": "2026-01-05T09:00"},
        },
        "escalation_policies": {
            "platform": {
                "steps": [
                    {"targets": ["rotation:primary"], "ack_timeout": "1h"},
                    {"targets": ["rotation:secondary"], "ack_timeout": "1h"},
                ]
            }
        },
        "default_escalation_policy": "platform",
        "page_on_declare": [1],
    },
    "test-oncall.yaml",
)


@pytest.fixture
async def bot(start_bot: Callable[..., Awaitable[Bot]]) -> Bot:
    """A bot whose background loops stay out of the way: the tests fire timers with `tick`."""
    return await start_bot(pager_interval=3600, pager_wake=False)


async def tick(bot: Bot, after: timedelta = timedelta(0)) -> int:
    """Move the clock on and fire what is due."""
    bot.clock.advance(after)
    handled: int = await bot.http.app[METRICS].clocks.tick()
    await bot.settle()
    return handled


def posts(bot: Bot, channel: str) -> list[str]:
    return [str(c.args["text"]) for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == channel]


def last_card(bot: Bot, channel: str) -> str:
    updates = [c for c in bot.slack.calls_to("chat.update") if c.args["channel"] == channel]
    return json.dumps(updates[-1].args["blocks"], ensure_ascii=False)


async def test_warning_then_breach_tick_on_the_card(bot: Bot) -> None:
    """A SEV-1 warns at 12 min and breaches at 15 min, once each, on the timeline and the card."""
    incident = await bot.declare("Checkout is down sev1")
    channel = incident["channel_id"]
    assert await tick(bot, timedelta(minutes=11)) == 0
    assert await tick(bot, timedelta(minutes=1)) == 1
    assert [p for p in posts(bot, channel) if p.startswith("⚠️")] == [
        "⚠️ Incident #1 (SEV-1): 3 min left to meet the response target of 15 min."
    ]
    assert "⚠️ 3 min left" in last_card(bot, channel)
    await tick(bot, timedelta(minutes=3))
    assert await tick(bot, timedelta(minutes=1)) == 0
    breaches = [p for p in posts(bot, channel) if p.startswith("🔴")]
    assert breaches == ["🔴 Incident #1 (SEV-1) breached its response target of 15 min: not acknowledged in time."]
    assert "breached" in last_card(bot, channel)
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    assert [e["text"] for e in events if e["kind"] == "target_breached"] == ["Response target of 15 min breached"]


async def test_acknowledging_stops_the_response_clock(bot: Bot) -> None:
    """Acknowledged before the warning, the response clock never fires; the card says it was met."""
    incident = await bot.declare("Checkout is down sev1")
    bot.clock.advance(timedelta(minutes=5))
    await bot.command("ack", channel=incident["channel_id"])
    await tick(bot, timedelta(minutes=20))
    assert not [p for p in posts(bot, incident["channel_id"]) if "response target" in p]
    assert "✅ met: acknowledged after 5 min" in last_card(bot, incident["channel_id"])


async def test_raising_severity_re_evaluates_targets(bot: Bot) -> None:
    """A SEV-3 (4 h) raised to SEV-1 after 20 min has already missed 15 min: the breach fires at once."""
    incident = await bot.declare("Slow search sev3")
    bot.clock.advance(timedelta(minutes=20))
    await bot.command("sev 1", channel=incident["channel_id"])
    await tick(bot)
    assert any(p.startswith("🔴 Incident #1 (SEV-1) breached its response") for p in posts(bot, incident["channel_id"]))


async def test_reminders_nag_reset_on_update_and_stop_on_resolve(bot: Bot) -> None:
    """SEV-1 reminds every 30 min; an update restarts the wait; resolving stops it."""
    incident = await bot.declare("Checkout is down sev1")
    channel = incident["channel_id"]
    await bot.command(f"lead <@{BOB}>", channel=channel)
    bot.clock.advance(timedelta(minutes=20))
    await bot.command("update rolled back", channel=channel)

    def reminders() -> list[str]:
        return [p for p in posts(bot, channel) if p.startswith("⏰")]

    await tick(bot, timedelta(minutes=29))
    assert reminders() == []
    await tick(bot, timedelta(minutes=1))
    assert reminders() == [
        f"⏰ <@{BOB}>: time for a status update on incident #1. Post it with `/incident update <text>`."
    ]
    await tick(bot, timedelta(minutes=30))
    assert len(reminders()) == 2
    await bot.command("resolve fixed", channel=channel)
    await tick(bot, timedelta(hours=2))
    assert len(reminders()) == 2


async def test_snooze_postpones_the_reminder(bot: Bot) -> None:
    """Snooze 90 min on a reminder: nothing at the usual 30 min, the next one 90 min after the click."""
    incident = await bot.declare("Checkout is down sev1")
    channel = incident["channel_id"]
    await tick(bot, timedelta(minutes=30))
    reminder = next(c for c in bot.slack.calls_to("chat.postMessage") if str(c.args["text"]).startswith("⏰"))
    buttons = reminder.args["blocks"][1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Snooze 30 min", "Snooze 60 min", "Snooze 90 min"]
    response = await bot.click(ActionId.SNOOZE_REMINDER, buttons[2]["value"], user=ALICE)
    assert response.status == 200
    assert "snoozed for 1 h 30 min" in str(bot.slack.calls_to("response_url")[-1].args["text"])
    await tick(bot, timedelta(minutes=89))
    assert len([p for p in posts(bot, channel) if p.startswith("⏰")]) == 1
    await tick(bot, timedelta(minutes=1))
    assert len([p for p in posts(bot, channel) if p.startswith("⏰")]) == 2


async def test_sev1_response_breach_pages_the_next_step(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """Unacknowledged at 15 min, a SEV-1 pages the second step long before the first step's 1 h timeout."""
    bot = await start_bot(oncall=ONCALL, pager_interval=3600, pager_wake=False)
    await bot.declare("Checkout is down sev1")
    await bot.http.app[PAGER].tick()
    await tick(bot, timedelta(minutes=15))
    await bot.http.app[PAGER].tick()
    await bot.settle()
    paged = [bot.slack.dm_user(str(c.args["channel"])) for c in bot.slack.calls_to("chat.postMessage")]
    assert [user for user in paged if user] == [PRIMARY, SECONDARY]


async def test_each_stage_fires_once_across_two_processes(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """Two bots on one Redis and database, ticking at once: one warning, one breach, one reminder."""
    first = await start_bot(pager_interval=3600, pager_wake=False)
    second = await start_bot(pager_interval=3600, pager_wake=False)
    incident = await first.declare("Checkout is down sev1")
    for minutes in (12, 3, 15):
        first.clock.advance(timedelta(minutes=minutes))
        handled: list[Any] = await asyncio.gather(*(b.http.app[METRICS].clocks.tick() for b in (first, second)))
        await first.settle()
        await second.settle()
        assert sum(handled) >= 1
    texts = posts(first, incident["channel_id"])
    assert [t.split()[0] for t in texts if t[:1] in {"⚠", "🔴", "⏰"}] == ["⚠️", "🔴", "⏰"]
