"""Bad input gets a clear ephemeral reply or a 4xx, and nothing stored changes."""

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from handlers.slack import ActionId
from tests.bot.harness import GENERAL, SIGNING_SECRET, Bot


async def _snapshot(bot: Bot) -> tuple[Any, Any]:
    incidents = await bot.api("/api/incidents?status=all")
    timelines = [await bot.api(f"/api/incidents/{i['number']}/timeline") for i in incidents["incidents"]]
    return incidents, timelines


@pytest.mark.parametrize(
    ("text", "channel", "expected"),
    [
        ("frobnicate now", "incident", "`frobnicate` is not an /incident subcommand"),
        ("sev 7", "incident", "`7` is not a severity"),
        ("status fixed", "incident", "`fixed` is not a status"),
        ("lead bob", "incident", "is not a Slack mention"),
        ("#99 ack", GENERAL, "There is no incident #99."),
        ("ack", GENERAL, "This channel is not an incident channel. Name the incident: `/incident #<number> ack`"),
        ("note", "incident", "Write the note after the subcommand"),
        ("reopen", "incident", "is not resolved, so it cannot be reopened"),
        ("sev 2", "incident", "already SEV-2"),
        ("#1 list", GENERAL, "`list` does not take an incident number"),
    ],
)
async def test_bad_commands_reply_and_change_nothing(bot: Bot, text: str, channel: str, expected: str) -> None:
    """Each bad command is answered with what is wrong; incidents, timelines and Slack stay as they were."""
    incident = await bot.declare()
    before, calls = await _snapshot(bot), len(bot.slack.calls)
    reply = await bot.command(text, channel=incident["channel_id"] if channel == "incident" else channel)
    assert reply.startswith("⚠️")
    assert expected in reply
    assert await _snapshot(bot) == before
    assert len(bot.slack.calls) == calls


async def test_resolved_incident_accepts_only_reopen(bot: Bot) -> None:
    """On a resolved incident every command but reopen is refused, naming reopen."""
    incident = await bot.declare()
    await bot.command("resolve", channel=incident["channel_id"])
    before = await _snapshot(bot)
    for text in ["ack", "note late", "status monitoring", "sev 1", "resolve again", "update x"]:
        reply = await bot.command(text, channel=incident["channel_id"])
        assert "only `reopen` is possible" in reply, text
    assert await _snapshot(bot) == before


async def test_refused_button_click_is_answered_ephemerally(bot: Bot) -> None:
    """A click the state machine refuses gets an ephemeral answer and changes nothing."""
    await bot.declare()
    await bot.command("#1 resolve")
    before = await _snapshot(bot)
    response = await bot.click(ActionId.RESOLVE, json.dumps({"number": 1}))
    assert response.status == 200
    answer = bot.slack.calls_to("response_url")[-1].args
    assert answer["response_type"] == "ephemeral"
    assert "only `reopen`" in answer["text"]
    assert await _snapshot(bot) == before


async def test_click_on_unknown_incident(bot: Bot) -> None:
    """A button naming an incident that does not exist is answered, not crashed on."""
    response = await bot.click(ActionId.ACKNOWLEDGE, json.dumps({"number": 41}))
    assert response.status == 200
    assert "There is no incident #41." in bot.slack.calls_to("response_url")[-1].args["text"]


@pytest.mark.parametrize(
    ("signing", "case"),
    [
        ({"secret": "not-the-secret"}, "wrong secret"),
        ({"timestamp": -6 * 60}, "stale timestamp"),
        ({"timestamp": 6 * 60}, "future timestamp"),
    ],
)
async def test_badly_signed_requests_are_refused(bot: Bot, signing: dict[str, Any], case: str) -> None:
    """Requests with a bad signature or a timestamp outside five minutes get 401 and do nothing."""
    body = "command=%2Fincident&text=declare+Fake&user_id=U1&channel_id=C1&trigger_id=t1"
    if "timestamp" in signing:  # an offset from now, taken when the test runs (not when it was collected)
        signing = {"timestamp": int(time.time()) + signing["timestamp"]}
    response = await bot.post_signed(body, "application/x-www-form-urlencoded", **signing)
    assert response.status == 401, case
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []
    assert bot.slack.calls_to("conversations.create") == []


async def test_unsigned_request_is_refused(bot: Bot) -> None:
    """A request with no signature headers at all gets 401."""
    response = await bot.http.post(
        "/slack/events",
        data=b"command=%2Fincident&text=declare+x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 401


async def test_signature_checked_with_the_configured_secret(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """A body signed with the configured secret is accepted; the same body signed with another secret is not."""
    bot = await start_bot(slack_signing_secret="rotated-secret")
    body = "command=%2Fincident&text=help&user_id=U1&channel_id=C1&trigger_id=t1"
    refused = await bot.post_signed(body, "application/x-www-form-urlencoded", secret=SIGNING_SECRET)
    accepted = await bot.post_signed(body, "application/x-www-form-urlencoded", secret="rotated-secret")
    assert (refused.status, accepted.status) == (401, 200)
    assert (await accepted.text()).startswith("*/incident* subcommands")


async def test_malformed_interaction_payload_is_refused(bot: Bot) -> None:
    """A correctly signed interaction whose payload is not JSON gets a 4xx, and nothing is stored."""
    response = await bot.post_signed("payload=%7Bnot-json", "application/x-www-form-urlencoded")
    assert 400 <= response.status < 500
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []


async def test_button_with_foreign_value_is_refused(bot: Bot) -> None:
    """A signed click whose button value is not one of ours gets 400, and nothing changes."""
    await bot.declare()
    before = await _snapshot(bot)
    response = await bot.click(ActionId.ACKNOWLEDGE, "not-json")
    assert response.status == 400
    assert await _snapshot(bot) == before
    assert "missing required fields" in (await response.json())["error"]


async def test_a_command_we_do_not_register_gets_bolts_answer_and_ours_without_fields_a_400(bot: Bot) -> None:
    """Only our own command skips Bolt's pipeline: another is Bolt's unhandled 404, and ours missing its
    user is refused with 400 like any payload missing fields; neither stores anything."""
    form = "application/x-www-form-urlencoded"
    other = await bot.post_signed("command=%2Fdeploy&text=now&user_id=U1&trigger_id=t1", form)
    ours = await bot.post_signed("command=%2Fincident&text=declare+Fake&channel_id=C1&trigger_id=t2", form)
    assert (other.status, ours.status) == (404, 400)
    assert "missing required fields" in (await ours.json())["error"]
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []
