"""An incident's whole life through /incident, card buttons and the modal, over the real HTTP endpoint."""

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

from handlers.slack import ActionId, BlockId, CallbackId
from tests.bot.harness import ALICE, BOB, CAROL, GENERAL, Bot


def _kinds(events: list[dict[str, object]]) -> list[object]:
    return [event["kind"] for event in events]


async def test_declare_opens_channel_card_and_announcement(bot: Bot) -> None:
    """Declaring stores the incident, opens its channel, pins the card and announces it."""
    reply = await bot.command("declare Checkout is down SEV-1")
    assert reply.startswith("Declared incident #1 (SEV-1): Checkout is down")
    incident = await bot.api("/api/incidents/1")
    assert incident | {"channel_id": None} == {
        "number": 1,
        "title": "Checkout is down",
        "severity": 1,
        "severity_label": "SEV-1",
        "status": "declared",
        "commander": None,
        "declared_by": ALICE,
        "channel_id": None,
        "channel_name": "inc-1-checkout-is-down",
        "declared_at": "2026-11-25T03:00:00Z",
        "acknowledged_at": None,
        "resolved_at": None,
        "source": None,
    }
    channel = incident["channel_id"]
    assert bot.slack.channels[channel].name == "inc-1-checkout-is-down"
    assert ALICE in bot.slack.channels[channel].members
    assert "Checkout is down" in bot.slack.channels[channel].topic
    card = bot.slack.calls_to("chat.postMessage")[0].args
    assert card["channel"] == channel
    assert "SEV-1: respond within 15 min" in json.dumps(card["blocks"])
    assert bot.slack.calls_to("pins.add")[0].args["channel"] == channel
    announcement = bot.slack.calls_to("chat.postMessage")[1].args
    assert announcement["channel"] == bot.incidents_channel
    assert f"<#{channel}>" in announcement["text"]
    assert _kinds((await bot.api("/api/incidents/1/timeline"))["events"]) == ["declared"]


async def test_default_severity_is_sev3_and_numbers_are_sequential(bot: Bot) -> None:
    """Without a severity token an incident is SEV-3; numbers count up."""
    first = await bot.declare("Slow search")
    second = await bot.declare("Login errors sev2")
    assert (first["number"], first["severity_label"]) == (1, "SEV-3")
    assert (second["number"], second["severity_label"]) == (2, "SEV-2")


async def test_commands_in_channel_run_the_lifecycle(bot: Bot) -> None:
    """ack, status, sev, lead, role, note, update, resolve and reopen each change the incident and its timeline."""
    incident = await bot.declare()
    channel = incident["channel_id"]
    steps = [
        ("ack", "acknowledged"),
        ("status investigating", "status_changed"),
        ("sev 1", "severity_changed"),
        (f"lead <@{BOB}|bob>", "role_assigned"),
        (f"role comms <@{CAROL}>", "role_assigned"),
        ("note error rate is 40%", "note"),
        ("update rolling back the deploy", "update"),
        ("resolve bad config push", "resolved"),
        ("reopen", "reopened"),
    ]
    for text, kind in steps:
        bot.clock.advance(timedelta(minutes=1))
        reply = await bot.command(text, channel=channel)
        assert reply.startswith("✓ #1"), (text, reply)
        assert _kinds((await bot.api("/api/incidents/1/timeline"))["events"])[-1] == kind
    stored = await bot.api("/api/incidents/1")
    assert stored["status"] == "investigating"
    assert stored["severity_label"] == "SEV-1"
    assert stored["commander"] == BOB
    assert stored["acknowledged_at"] == "2026-11-25T03:01:00Z"
    assert stored["resolved_at"] is None
    assert BOB in bot.slack.channels[channel].members
    assert CAROL in bot.slack.channels[channel].members
    assert len(bot.slack.calls_to("chat.update")) == 7  # every change but note and update re-renders the card


async def test_update_posts_in_channel_and_announcement_channel(bot: Bot) -> None:
    """`update` is posted both in the incident channel and in the announcement channel."""
    incident = await bot.declare()
    await bot.command("update DB failover done", channel=incident["channel_id"])
    posts = [(c.args["channel"], c.args["text"]) for c in bot.slack.calls_to("chat.postMessage")]
    assert any(ch == incident["channel_id"] and "DB failover done" in text for ch, text in posts)
    assert any(ch == bot.incidents_channel and "DB failover done" in text for ch, text in posts)


async def test_commands_elsewhere_take_the_number(bot: Bot) -> None:
    """Outside the incident channel, `#<number>` names the incident."""
    await bot.declare()
    assert (await bot.command("#1 ack", channel=GENERAL)).startswith("✓ #1")
    assert (await bot.api("/api/incidents/1"))["status"] == "acknowledged"


async def test_card_updates_in_place(bot: Bot) -> None:
    """Each action re-renders the pinned card message itself (chat.update on its ts)."""
    incident = await bot.declare()
    card_ts = bot.slack.calls_to("pins.add")[0].args["timestamp"]
    await bot.command("ack", channel=incident["channel_id"])
    update = bot.slack.calls_to("chat.update")[-1].args
    assert (update["channel"], update["ts"]) == (incident["channel_id"], card_ts)
    assert "acknowledged" in json.dumps(bot.slack.messages[(incident["channel_id"], card_ts)]["blocks"])


async def test_timeline_list_and_help_replies(bot: Bot) -> None:
    """timeline, list and help answer with ephemeral text."""
    incident = await bot.declare("Payments failing sev1")
    await bot.command("note card processor returns 502", channel=incident["channel_id"])
    timeline = await bot.command("timeline", channel=incident["channel_id"])
    assert "card processor returns 502" in timeline
    assert "declared" in timeline
    assert "#1 Payments failing" in await bot.command("list")
    assert "/incident declare <title>" in await bot.command("help")


async def test_list_shows_only_open_incidents(bot: Bot) -> None:
    """Resolved incidents leave `list` and `?status=open`, but stay in `?status=all`, newest first."""
    await bot.declare("First")
    await bot.declare("Second")
    await bot.command("#1 resolve")
    assert "First" not in await bot.command("list")
    assert [i["number"] for i in (await bot.api("/api/incidents?status=open"))["incidents"]] == [2]
    assert [i["number"] for i in (await bot.api("/api/incidents?status=all"))["incidents"]] == [2, 1]


async def test_list_shows_the_most_severe_and_counts_the_rest(bot: Bot) -> None:
    """Past 25 open incidents, `list` shows the 25 most severe (SEV-1 first) and says how many more are open."""
    for n in range(27):
        await bot.command(f"declare Minor {n} sev4")
    await bot.declare("Checkout is down sev1")
    listed = await bot.command("list")
    assert listed.startswith("*Open incidents: 28*\n• SEV-1 #28 Checkout is down")
    assert listed.count("\n• ") == 25
    assert "#4 Minor 3:" in listed
    assert "#3 Minor 2:" not in listed
    assert listed.endswith("_…and 3 more, less severe or older_")


async def test_card_buttons_acknowledge_change_and_resolve(bot: Bot) -> None:
    """The card's Acknowledge, status, severity, Resolve and Reopen controls drive the incident."""
    await bot.declare()
    value = json.dumps({"number": 1})
    assert (await bot.click(ActionId.ACKNOWLEDGE, value, user=BOB)).status == 200
    await bot.click(ActionId.CHANGE_STATUS, f"{value}|identified", selected=True)
    await bot.click(ActionId.CHANGE_SEVERITY, f"{value}|1", selected=True)
    await bot.click(ActionId.RESOLVE, value)
    stored = await bot.api("/api/incidents/1")
    assert (stored["status"], stored["severity"]) == ("resolved", 1)
    await bot.click(ActionId.REOPEN, value)
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    assert _kinds(events) == [
        "declared",
        "acknowledged",
        "status_changed",
        "severity_changed",
        "resolved",
        "reopened",
    ]
    assert events[1]["actor"] == BOB


async def test_double_click_acknowledges_once(bot: Bot) -> None:
    """A second Acknowledge click adds nothing and tells the clicker it is already acknowledged."""
    await bot.declare()
    value = json.dumps({"number": 1})
    await bot.click(ActionId.ACKNOWLEDGE, value)
    updates = len(bot.slack.calls_to("chat.update"))
    await bot.click(ActionId.ACKNOWLEDGE, value, user=BOB)
    assert _kinds((await bot.api("/api/incidents/1/timeline"))["events"]) == ["declared", "acknowledged"]
    assert len(bot.slack.calls_to("chat.update")) == updates
    assert "already acknowledged" in bot.slack.calls_to("response_url")[-1].args["text"]


async def test_declare_modal(bot: Bot) -> None:
    """`declare` alone opens the modal; submitting it declares with title, severity and description."""
    assert await bot.command("declare", trigger_id="trigger-modal") == ""
    opened = bot.slack.calls_to("views.open")[0].args
    assert (opened["trigger_id"], opened["view"]["callback_id"]) == ("trigger-modal", CallbackId.DECLARE_MODAL)
    values = {BlockId.TITLE: "Queue backlog", BlockId.SEVERITY: "2", BlockId.DESCRIPTION: "Jobs wait 20 min"}
    response = await bot.submit_view(CallbackId.DECLARE_MODAL, values)
    assert response.status == 200
    stored = await bot.api("/api/incidents/1")
    assert (stored["title"], stored["severity"], stored["declared_by"]) == ("Queue backlog", 2, ALICE)
    assert "Jobs wait 20 min" in json.dumps(bot.slack.calls_to("chat.postMessage")[0].args["blocks"])


async def test_modal_submitted_twice_declares_once(bot: Bot) -> None:
    """The same modal submitted twice (a double click) declares one incident."""
    values = {BlockId.TITLE: "Queue backlog", BlockId.SEVERITY: "2"}
    await bot.submit_view(CallbackId.DECLARE_MODAL, values, view_id="V0SAME")
    await bot.submit_view(CallbackId.DECLARE_MODAL, values, view_id="V0SAME")
    assert len((await bot.api("/api/incidents?status=all"))["incidents"]) == 1
    assert len(bot.slack.calls_to("conversations.create")) == 1


async def test_modal_without_title_is_refused_in_the_modal(bot: Bot) -> None:
    """An empty title comes back as a field error in the modal; nothing is stored."""
    response = await bot.submit_view(CallbackId.DECLARE_MODAL, {BlockId.TITLE: "  ", BlockId.SEVERITY: "2"})
    assert await response.json() == {
        "response_action": "errors",
        "errors": {BlockId.TITLE: "Give the incident a title."},
    }
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []


async def test_runbook_command_lists_and_shows(bot: Bot) -> None:
    """`runbook` lists the runbooks; `runbook <name>` shows one; an unknown name lists the choices."""
    listed = await bot.command("runbook")
    assert "`node-disk-space-low`" in listed
    shown = await bot.command("runbook node-disk-space-low")
    assert shown.startswith("📖 *Runbook for `NodeDiskSpaceLow`: Node disk space low*")
    assert "• On the node:" in shown
    unknown = await bot.command("runbook nope")
    assert unknown.startswith("⚠️ There is no runbook `nope`. Runbooks: checkout-high-error-rate")


async def test_a_deleted_card_is_posted_and_pinned_again_once(bot: Bot) -> None:
    """Someone deletes the card: the next change posts a new card and pins it; later changes update that one."""
    incident = await bot.declare()
    channel, first_card = incident["channel_id"], bot.slack.calls_to("pins.add")[0].args["timestamp"]
    bot.slack.delete_message(channel, first_card)
    await bot.command("status investigating", channel=channel)
    await bot.command("sev 1", channel=channel)
    cards = [
        c
        for c in bot.slack.calls_to("chat.postMessage")
        if c.ok and c.args["channel"] == channel and c.args.get("blocks")
    ]
    pins = [c.args["timestamp"] for c in bot.slack.calls_to("pins.add") if c.ok]
    assert len(cards) == 2  # the first card and the one that replaced it: no third
    second_card = pins[-1]
    assert (len(pins), second_card != first_card) == (2, True)
    assert bot.slack.channels[channel].pins == [second_card]
    card = bot.slack.messages[(channel, second_card)]
    assert "SEV-1" in json.dumps(card["blocks"])
    assert "investigating" in json.dumps(card["blocks"])


async def test_a_card_slack_refused_to_post_again_is_retried_until_it_is_there(
    start_bot: Callable[..., Awaitable[Bot]],
) -> None:
    """The card is gone and Slack refuses its new post once: the refresh is retried and the card comes back."""
    bot = await start_bot(slack_effect_backoff=0.01)
    incident = await bot.declare()
    channel = incident["channel_id"]
    bot.slack.delete_message(channel, bot.slack.calls_to("pins.add")[0].args["timestamp"])
    bot.slack.fail("chat.postMessage", "fatal_error")
    await bot.command("status investigating", channel=channel)
    cards = [c for c in bot.slack.calls_to("chat.postMessage") if c.ok and c.args["channel"] == channel]
    assert len(cards) == 2
    assert bot.slack.channels[channel].pins == [bot.slack.calls_to("pins.add")[-1].args["timestamp"]]
    assert (await bot.api("/api/incidents/1"))["status"] == "investigating"
