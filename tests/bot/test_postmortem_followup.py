"""Following up: action-item and postmortem lists, owners, and reminders and the digest on an injected clock."""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from bot.appkeys import REMINDERS
from handlers.slack import ActionId
from sandbox.blockkit import message_errors
from storage import Keys
from tests.bot import postmortem_steps as steps
from tests.bot.harness import ALICE, BOB, CAROL, Bot


def _listed(reply: dict[str, Any]) -> list[str]:
    """The action items a list reply shows (the text of each item's section)."""
    assert message_errors(reply["blocks"]) == []
    return [b["text"]["text"] for b in reply["blocks"][1:] if b["type"] == "section"]


async def _two_incidents_with_items(bot: Bot) -> tuple[int, int]:
    first, first_channel = await steps.resolved(bot, "Checkout is down sev2")
    await steps.start(bot, first_channel)
    await steps.add_item(bot, first, "Validate config", owner=BOB, due="2026-11-20")
    second, second_channel = await steps.resolved(bot, "Search is slow sev3")
    await steps.start(bot, second_channel)
    await steps.add_item(bot, second, "Add a search dashboard", owner=CAROL, priority="p3")
    return first, second


async def test_actions_lists_and_marks_items_across_incidents(bot: Bot) -> None:
    """`actions`, `actions mine`, `actions @user` and `actions overdue` list open items; Done closes one."""
    await _two_incidents_with_items(bot)
    everything = _listed(await bot.command_reply("actions"))
    assert len(everything) == 2
    assert "Validate config" in everything[0]  # by due date
    assert [t for t in _listed(await bot.command_reply("actions mine", user=CAROL)) if "search" in t]
    assert len(_listed(await bot.command_reply(f"actions <@{BOB}>"))) == 1
    overdue = await bot.command_reply("actions overdue")
    assert len(_listed(overdue)) == 1
    done = next(e for b in overdue["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert done["action_id"] == ActionId.ITEM_DONE
    await bot.click(ActionId.ITEM_DONE, done["value"], user=BOB)
    assert "is done now: Validate config" in bot.slack.calls_to("response_url")[-1].args["text"]
    assert [i["text"] for i in (await bot.api("/api/action-items"))["action_items"]] == ["Add a search dashboard"]
    assert (await bot.api("/api/action-items?status=overdue"))["action_items"] == []
    assert len((await bot.api("/api/action-items?status=all"))["action_items"]) == 2
    await bot.api("/api/action-items?status=later", status=400)


async def test_postmortems_lists_state_due_and_overdue(bot: Bot) -> None:
    """`postmortems` lists each with its state; `due` and `overdue` only the required ones by their due date."""
    first, second = await _two_incidents_with_items(bot)
    listed = await bot.command("postmortems")
    assert f"#{first}: draft" in listed
    assert f"#{second}: draft" in listed
    assert f"#{first}" in await bot.command("postmortems due")
    assert f"#{second}" not in await bot.command("postmortems due")  # SEV-3: not required
    assert "None." in await bot.command("postmortems overdue")
    bot.clock.now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    overdue = await bot.command("postmortems overdue")
    assert f"#{first}: draft, owner <@{ALICE}>, due 2026-12-02 (overdue)" in overdue


async def test_owner_command_changes_the_owner(bot: Bot) -> None:
    """`postmortem owner @user` makes them the owner; the draft shows it."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    reply = await bot.command(f"postmortem owner <@{BOB}>", channel=channel)
    assert reply == f"✓ <@{BOB}> owns the postmortem of #{number} now."
    assert (await bot.api(f"/api/postmortems/{number}"))["owner"] == BOB
    assert f"owner <@{BOB}>" in steps.draft_text(bot, channel)


def _dms(bot: Bot, user: str) -> list[str]:
    return [c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == user and c.ok]


async def _at(bot: Bot, moment: datetime) -> int:
    """Move the bot's clock and let the reminder loop's work run once; how many reminders fired."""
    bot.clock.now = moment
    fired: int = await bot.http.app[REMINDERS].tick()
    await bot.settle()  # the reminders' DMs are queued effects
    return fired


async def test_reminders_and_digest_fire_on_the_injected_clock(bot: Bot) -> None:
    """An item's owner is reminded the day before, on the due date and weekly while overdue, and no more once
    it is done; the postmortem's owner likewise; the Monday digest lists what is overdue."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    await steps.add_item(bot, number, "Validate config", owner=BOB, due="2026-11-27")
    assert await _at(bot, datetime(2026, 11, 26, 8, 59, tzinfo=UTC)) == 0
    assert await _at(bot, datetime(2026, 11, 26, 9, 0, tzinfo=UTC)) == 1
    assert await _at(bot, datetime(2026, 11, 27, 9, 0, tzinfo=UTC)) == 1
    assert [t.split(": ")[0] for t in _dms(bot, BOB)] == [
        "⏰ Action item 1 of incident #1 is due tomorrow",
        "⏰ Action item 1 of incident #1 is due today",
    ]
    assert await _at(bot, datetime(2026, 11, 30, 9, 0, tzinfo=UTC)) == 1  # Monday: the digest
    digest = [
        c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == bot.incidents_channel
    ]
    assert "Overdue action items: 1" in digest[-1]
    assert await _at(bot, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) == 1  # the postmortem is due tomorrow
    assert await _at(bot, datetime(2026, 12, 2, 9, 0, tzinfo=UTC)) == 1
    assert await _at(bot, datetime(2026, 12, 4, 9, 0, tzinfo=UTC)) == 1  # the item, a week overdue
    assert _dms(bot, BOB)[-1].startswith("⏰ Action item 1 of incident #1 is overdue")
    assert [t.split(" (")[0] for t in _dms(bot, ALICE)] == [
        "⏰ The postmortem of incident #1 is due tomorrow",
        "⏰ The postmortem of incident #1 is due today",
    ]
    await bot.click(ActionId.ITEM_DONE, json.dumps({"number": number, "item": 1}), user=BOB)
    reminded = len(_dms(bot, BOB))
    await _at(bot, datetime(2026, 12, 11, 9, 0, tzinfo=UTC))
    assert len(_dms(bot, BOB)) == reminded  # done: no more reminders


async def test_reminders_are_rebuilt_from_sql_after_redis_loss(
    start_bot: Callable[..., Awaitable[Bot]], redis: Redis, keys: Keys
) -> None:
    """With every Redis key gone, a starting process schedules the reminders again from SQL: those to come,
    and the weekly one of an item already overdue."""
    bot = await start_bot()
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    await steps.add_item(bot, number, "Validate config", owner=BOB, due="2026-11-27")
    await steps.add_item(bot, number, "Write the runbook", owner=CAROL, due="2026-11-20")
    await redis.delete(*[key async for key in redis.scan_iter(match=f"{keys.prefix}*")])
    other = await start_bot()
    assert await _at(other, datetime(2026, 11, 26, 9, 0, tzinfo=UTC)) == 1
    assert _dms(other, BOB)[-1].startswith("⏰ Action item 1 of incident #1 is due tomorrow")
    assert await _at(other, datetime(2026, 12, 2, 3, 0, tzinfo=UTC)) >= 1  # a week after the restart
    assert _dms(other, CAROL)[-1].startswith("⏰ Action item 2 of incident #1 is overdue")
