"""Each action and view reaches only the listener registered for its id; unknown ones are answered."""

import json
from urllib.parse import urlencode

import structlog

from handlers.slack import ActionId
from tests.bot.harness import Bot


async def test_an_unknown_button_is_answered_and_changes_nothing(bot: Bot) -> None:
    """A button no capability registered gets an ephemeral answer and a log line, not another button's handler."""
    incident = await bot.declare()
    with structlog.testing.capture_logs() as logs:
        response = await bot.click("retired_feature_button", json.dumps({"number": incident["number"]}))
    assert response.status == 200
    answer = bot.slack.calls_to("response_url")[-1].args
    assert answer["response_type"] == "ephemeral"
    assert "does not know the button" in answer["text"]
    unknown = [log for log in logs if log["event"] == "slack_action_unknown"]  # background sweeps log beside it
    assert [log["action_id"] for log in unknown] == ["retired_feature_button"]
    assert await bot.api(f"/api/incidents/{incident['number']}") == incident


async def test_an_unknown_select_is_not_taken_for_a_severity(bot: Bot) -> None:
    """A select with an unknown action_id is not routed to the card's severity handler."""
    incident = await bot.declare()
    response = await bot.click("some_new_select", json.dumps({"number": incident["number"]}) + "|1", selected=True)
    assert response.status == 200
    text = bot.slack.calls_to("response_url")[-1].args["text"]
    assert "not a severity" not in text
    assert "does not know the button" in text
    assert (await bot.api(f"/api/incidents/{incident['number']}"))["severity"] == incident["severity"]


async def test_an_unknown_view_is_acknowledged_and_logged(bot: Bot) -> None:
    """A modal submission with an unknown callback_id closes cleanly and is logged; nothing is declared."""
    with structlog.testing.capture_logs() as logs:
        response = await bot.submit_view("some_old_modal", {})
    assert response.status == 200
    assert any(log["event"] == "slack_view_unknown" and log["callback_id"] == "some_old_modal" for log in logs)
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []


async def test_the_page_acknowledge_button_has_its_own_listener(bot: Bot) -> None:
    """The page DM's Acknowledge button acknowledges the incident it names."""
    incident = await bot.declare()
    response = await bot.click(ActionId.PAGE_ACKNOWLEDGE, json.dumps({"number": incident["number"]}))
    assert response.status == 200
    assert (await bot.api(f"/api/incidents/{incident['number']}"))["status"] == "acknowledged"


async def test_help_and_errors_name_the_configured_command(start_bot) -> None:
    """With INCIDENT_COMMAND=/inc, help and usage errors tell people to type /inc, never /incident."""
    bot = await start_bot(incident_command="/inc")
    replies = []
    for text in ("help", "frobnicate", "lead bob"):
        form = {"command": "/inc", "text": text, "user_id": "U0ALICE", "channel_id": "C0GENERAL", "trigger_id": text}
        response = await bot.post_signed(urlencode(form), "application/x-www-form-urlencoded")
        assert response.status == 200
        is_json = response.content_type == "application/json"
        replies.append(str((await response.json())["text"]) if is_json else await response.text())
    assert all("/inc " in reply or "`/inc`" in reply for reply in replies), replies
    assert not any("/incident" in reply for reply in replies), replies
