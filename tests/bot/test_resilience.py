"""Slack failing, rate limiting and racing never lose an incident, an event or a message."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from handlers import SERVICES
from handlers.slack import ActionId
from tests.bot.harness import BOB, CAROL, Bot, LogEvents


async def test_rate_limited_post_is_retried(bot: Bot) -> None:
    """A 429 on chat.postMessage is retried after Retry-After and the card still lands once."""
    bot.slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=0)
    incident = await bot.declare()
    posts = bot.slack.calls_to("chat.postMessage")
    assert [p.ok for p in posts] == [False, True, True]
    assert len(bot.slack.calls_to("pins.add")) == 1
    assert incident["channel_id"] is not None


async def test_server_error_is_retried(bot: Bot) -> None:
    """A 503 from Slack is retried by the client's retry handler."""
    bot.slack.fail("conversations.create", "service_unavailable", status=503)
    incident = await bot.declare()
    assert incident["channel_name"] == "inc-1-checkout-is-down"


async def test_failed_channel_creation_keeps_the_incident_and_tells_the_user(bot: Bot) -> None:
    """When Slack refuses the channel, the incident and its timeline are stored and the user is told."""
    bot.slack.fail("conversations.create", "restricted_action")
    reply = await bot.command("declare Checkout is down sev1")
    assert reply.startswith("Declared incident #1")
    stored = await bot.api("/api/incidents/1")
    assert (stored["status"], stored["channel_id"]) == ("declared", None)
    assert [e["kind"] for e in (await bot.api("/api/incidents/1/timeline"))["events"]] == ["declared"]
    told = bot.slack.calls_to("response_url")[-1].args
    assert "conversations.create: restricted_action" in told["text"]
    assert told["response_type"] == "ephemeral"


async def test_next_action_resumes_a_failed_setup(bot: Bot) -> None:
    """After Slack refused the channel, the next action on the incident opens it, pins the card and announces."""
    bot.slack.fail("conversations.create", "restricted_action")
    await bot.command("declare Checkout is down sev1")
    assert (await bot.command("#1 ack")).startswith("✓ #1")
    stored = await bot.api("/api/incidents/1")
    assert (stored["status"], stored["channel_name"]) == ("acknowledged", "inc-1-checkout-is-down")
    assert len(bot.slack.calls_to("pins.add")) == 1
    assert any(c.args["channel"] == bot.incidents_channel for c in bot.slack.calls_to("chat.postMessage"))


async def test_failed_card_update_is_reported_but_state_is_kept(bot: Bot) -> None:
    """If chat.update fails, the acknowledgement is still stored and the user hears about the card."""
    channel = (await bot.declare())["channel_id"]
    bot.slack.fail("chat.update", "cant_update_message")
    assert (await bot.command("ack", channel=channel)).startswith("✓ #1")
    assert (await bot.api("/api/incidents/1"))["status"] == "acknowledged"
    assert "chat.update: cant_update_message" in bot.slack.calls_to("response_url")[-1].args["text"]


async def test_archived_channel_name_gets_a_new_channel(bot: Bot) -> None:
    """An archived channel holding the name does not block the incident: a suffixed channel is opened."""
    bot.slack.add_channel("inc-1-checkout-is-down", archived=True)
    incident = await bot.declare()
    assert incident["channel_name"].startswith("inc-1-checkout-is-down-")
    assert incident["channel_id"] in bot.slack.channels


async def test_concurrent_acknowledgements_record_one(bot: Bot) -> None:
    """Two people clicking Acknowledge at the same moment produce one acknowledgement."""
    await bot.declare()
    value = json.dumps({"number": 1})
    await asyncio.gather(
        bot.click(ActionId.ACKNOWLEDGE, value, user=BOB), bot.click(ActionId.ACKNOWLEDGE, value, user=CAROL)
    )
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    assert [e["kind"] for e in events] == ["declared", "acknowledged"]
    assert len(bot.slack.calls_to("response_url")) == 1  # the loser is told it is already acknowledged


async def test_concurrent_changes_all_land(bot: Bot) -> None:
    """Different changes racing each other are all stored (optimistic locking retries the loser)."""
    channel = (await bot.declare())["channel_id"]
    await asyncio.gather(
        bot.command("sev 1", channel=channel),
        bot.command(f"lead <@{BOB}>", channel=channel),
        bot.command("status investigating", channel=channel),
    )
    stored = await bot.api("/api/incidents/1")
    assert (stored["severity"], stored["commander"], stored["status"]) == (1, BOB, "investigating")
    kinds = sorted(e["kind"] for e in (await bot.api("/api/incidents/1/timeline"))["events"])
    assert kinds == ["declared", "role_assigned", "severity_changed", "status_changed"]


async def test_incident_number_is_bound_on_every_log_line(bot: Bot) -> None:
    """Log lines of an incident's work carry its number."""
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        await bot.declare()
    mine = [entry for entry in logs if entry["event"] in {"incident_declared", "incident_channel_opened"}]
    assert [entry.get("incident") for entry in mine] == [1, 1]


async def test_a_stored_incident_without_a_channel_is_set_up_without_anyone_acting(
    start_bot: Callable[..., Awaitable[Bot]],
) -> None:
    """Slack refused the channel and nobody touches the incident: once Slack answers again, the repair finishes it."""
    events = LogEvents()
    with structlog.testing.capture_logs(processors=[events]):
        bot = await start_bot(repair_interval=0.05)
        bot.slack.fail("conversations.create", "internal_error", times=2)
        await bot.command("declare Checkout is down sev1")
        swept = len(events.named("repair_swept"))
        await events.wait_for("repair_swept", swept + 2)  # sweeps ran, but a setup may be under way for a minute
        assert (await bot.api("/api/incidents/1"))["channel_id"] is None
        bot.clock.advance(timedelta(minutes=2))
        await bot.slack.wait_for("chat.postMessage", 2)  # the card and the announcement
        swept = len(events.named("repair_swept"))
        later = (await events.wait_for("repair_swept", swept + 2))[swept:]
    assert {sweep["setups"] for sweep in later[1:]} == {0}  # later sweeps find nothing left to do
    assert (await bot.api("/api/incidents/1"))["channel_name"] == "inc-1-checkout-is-down"
    assert len(bot.slack.calls_to("pins.add")) == 1
    assert [c.args["channel"] for c in bot.slack.calls_to("chat.postMessage")].count(bot.incidents_channel) == 1
    assert len(bot.slack.calls_to("conversations.create")) == 3  # two refused, one made; none after


async def test_a_missing_announcement_is_posted_by_the_repair(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """The channel and card made it but the announcement did not: once Slack takes it, the repair posts it, once."""
    events = LogEvents()
    with structlog.testing.capture_logs(processors=[events]):
        bot = await start_bot(repair_interval=0.05)
        announcements = bot.slack.channels[bot.incidents_channel]
        announcements.archived = True  # Slack answers is_archived
        await bot.declare("Checkout is down sev1")
        await bot.settle()
        refused = [c.error for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == announcements.id]
        assert refused == ["is_archived"]
        assert len(bot.slack.calls_to("pins.add")) == 1  # the card is noted and pinned all the same
        assert (await bot.http.app[SERVICES].incidents.get(1)).card_ts is not None
        announcements.archived = False
        bot.clock.advance(timedelta(minutes=2))
        await bot.slack.wait_for("chat.postMessage", 2)  # the card, then the announcement
        swept = len(events.named("repair_swept"))
        later = (await events.wait_for("repair_swept", swept + 2))[swept:]
    assert {sweep["setups"] for sweep in later[1:]} == {0}  # later sweeps find nothing left to do
    posted = [c for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == announcements.id and c.ok]
    assert len(posted) == 1
    assert len(bot.slack.calls_to("pins.add")) == 1
