"""Timeline capture: a 📌 reaction or a pin in the incident channel adds the message once, at its own time."""

from datetime import UTC, datetime
from typing import Any

from sandbox.slack_api import BOT_ID
from tests.bot.harness import BOB, CAROL, Bot


def _reaction(channel: str, ts: str, user: str = BOB, reaction: str = "pushpin") -> dict[str, Any]:
    item = {"type": "message", "channel": channel, "ts": ts}
    return {"type": "reaction_added", "user": user, "reaction": reaction, "item": item, "event_ts": ts}


def _pin(channel: str, ts: str, text: str, author: str = CAROL, bot_id: str | None = None) -> dict[str, Any]:
    message = {"type": "message", "ts": ts, "text": text, "user": author} | ({"bot_id": bot_id} if bot_id else {})
    return {
        "type": "pin_added",
        "user": BOB,
        "channel_id": channel,
        "item": {"type": "message", "channel": channel, "message": message},
        "event_ts": ts,
    }


async def _pinned(bot: Bot) -> list[dict[str, Any]]:
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    return [e for e in events if e["kind"] == "pinned_message"]


async def test_pushpin_reaction_adds_message_at_its_own_time(bot: Bot) -> None:
    """A 📌 on a message adds it to the timeline, stamped with the message's time and naming its author."""
    channel = (await bot.declare())["channel_id"]
    ts = bot.slack.add_message(channel, "p99 latency is 9s since 02:55", CAROL)
    assert (await bot.event(_reaction(channel, ts))).status == 200
    [entry] = await _pinned(bot)
    assert entry["text"] == f"<@{CAROL}>: p99 latency is 9s since 02:55"
    assert entry["actor"] == BOB
    expected_at = datetime.fromtimestamp(float(ts), UTC).isoformat().replace("+00:00", "Z")
    assert entry["at"] == expected_at


async def test_same_message_is_captured_once(bot: Bot) -> None:
    """Reacting twice, by two people, and pinning the same message still adds it once."""
    channel = (await bot.declare())["channel_id"]
    ts = bot.slack.add_message(channel, "rollback started", CAROL)
    await bot.event(_reaction(channel, ts))
    await bot.event(_reaction(channel, ts, user=CAROL))
    await bot.event(_pin(channel, ts, "rollback started"))
    assert len(await _pinned(bot)) == 1


async def test_pin_adds_message(bot: Bot) -> None:
    """Pinning a message adds it from the event's own copy of the message."""
    channel = (await bot.declare())["channel_id"]
    await bot.event(_pin(channel, "1764039600.000100", "DNS change reverted"))
    [entry] = await _pinned(bot)
    assert entry["text"] == f"<@{CAROL}>: DNS change reverted"
    assert entry["at"] == "2025-11-25T03:00:00.000100Z"


async def test_slack_retry_of_an_event_is_handled_once(bot: Bot) -> None:
    """A retried delivery (same event_id, X-Slack-Retry-Num) is acknowledged and ignored."""
    channel = (await bot.declare())["channel_id"]
    first = bot.slack.add_message(channel, "first", CAROL)
    second = bot.slack.add_message(channel, "second", CAROL)
    await bot.event(_reaction(channel, first), event_id="Ev0ONE")
    retry = await bot.event(_reaction(channel, second), event_id="Ev0ONE", retry_num=1)
    assert retry.status == 200
    assert [e["text"] for e in await _pinned(bot)] == [f"<@{CAROL}>: first"]


async def test_ignored_reactions_and_channels(bot: Bot) -> None:
    """Other emoji, non-incident channels and the bot's own messages (its pinned card) add nothing."""
    channel = (await bot.declare())["channel_id"]
    ts = bot.slack.add_message(channel, "looks fine", CAROL)
    await bot.event(_reaction(channel, ts, reaction="eyes"))
    general = bot.slack.add_channel("general")
    await bot.event(_reaction(general, bot.slack.add_message(general, "unrelated", CAROL)))
    card_ts = bot.slack.calls_to("pins.add")[0].args["timestamp"]
    await bot.event(_pin(channel, card_ts, "card", bot_id=BOT_ID))
    assert await _pinned(bot) == []


async def test_resolved_incident_captures_nothing(bot: Bot) -> None:
    """After resolution, a 📌 adds nothing (only reopen is possible) and is not an error."""
    channel = (await bot.declare())["channel_id"]
    await bot.command("resolve", channel=channel)
    ts = bot.slack.add_message(channel, "postmortem thoughts", CAROL)
    assert (await bot.event(_reaction(channel, ts))).status == 200
    assert await _pinned(bot) == []
