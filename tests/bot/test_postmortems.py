"""A postmortem from a resolved incident to a published one, through signed Slack payloads and the API."""

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import yaml
from redis.asyncio import Redis

from domain.postmortem import SectionKey
from handlers.slack import ActionId, CallbackId
from storage import Keys
from tests.bot import postmortem_steps as steps
from tests.bot.harness import ALICE, BOB, Bot


async def test_start_posts_and_pins_one_draft(bot: Bot) -> None:
    """`postmortem` in a resolved incident's channel posts and pins the draft; starting again finds the same one."""
    number, channel = await steps.resolved(bot)
    first = await steps.start(bot, channel)
    again = await steps.start(bot, channel)
    assert first.startswith(f"📝 Started the postmortem of #{number}")
    assert "already started" in again
    draft = steps.draft_message(bot, channel)
    assert draft["ts"] in bot.slack.channels[channel].pins
    body = await bot.api(f"/api/postmortems/{number}")
    assert (body["state"], body["owner"], body["required"], body["due"]) == ("draft", ALICE, True, "2026-12-02")


async def test_card_button_starts_the_postmortem_once_resolved(bot: Bot) -> None:
    """A resolved card offers Start postmortem, which posts the draft; before resolution it is refused."""
    incident = await bot.declare()
    value = json.dumps({"number": incident["number"]})
    await bot.click(ActionId.POSTMORTEM_START, value)
    assert "not resolved yet" in bot.slack.calls_to("response_url")[-1].args["text"]
    await bot.command("resolve", channel=incident["channel_id"])
    card = bot.slack.messages[(incident["channel_id"], bot.slack.channels[incident["channel_id"]].pins[0])]
    assert ActionId.POSTMORTEM_START in json.dumps(card["blocks"])
    await bot.click(ActionId.POSTMORTEM_START, value)
    assert "Started the postmortem of #1" in bot.slack.calls_to("response_url")[-1].args["text"]
    assert steps.draft_message(bot, incident["channel_id"])["ts"] in bot.slack.channels[incident["channel_id"]].pins


async def test_core_path_publishes_to_sql_and_reads_back(bot: Bot) -> None:
    """Edit sections, add an action item, publish: the incident closes and the API shows the stored revision."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    assert await steps.edit(bot, number, SectionKey.SUMMARY, "Checkout failed for 7 minutes <!channel>") == ""
    assert await steps.edit(bot, number, SectionKey.ROOT_CAUSE, "A bad config push") == ""
    await steps.add_item(bot, number, "Validate config before push", owner=BOB)
    assert "Checkout failed for 7 minutes &lt;!channel&gt;" in steps.draft_text(bot, channel)
    assert await steps.publish(bot, number) == ""
    incident = await bot.api(f"/api/incidents/{number}")
    assert incident["status"] == "closed"
    body = await bot.api(f"/api/postmortems/{number}")
    assert body["state"] == "published"
    assert body["sections"]["summary"]["text"] == "Checkout failed for 7 minutes <!channel>"
    assert [item["text"] for item in body["action_items"]] == ["Validate config before push"]
    assert [e["kind"] for e in body["timeline"]] == ["declared", "resolved", "closed"]
    assert [r["revision"] for r in body["revisions"]] == [1]
    posted = [c.args for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == bot.incidents_channel]
    assert "Postmortem of incident #1" in posted[-1]["text"]
    markdown = await (await bot.http.get(f"/api/postmortems/{number}.md")).text()
    assert markdown.startswith("# Postmortem: #1 Checkout is down")
    refused = await bot.command("reopen", channel=channel)
    assert "closed: its postmortem is published" in refused


async def test_publish_says_what_is_missing(bot: Bot) -> None:
    """Publishing an empty draft opens a modal listing exactly what is missing, with nothing to submit."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    await bot.click(ActionId.POSTMORTEM_PUBLISH, json.dumps({"number": number}))
    view = steps.opened_view(bot)
    text = json.dumps(view["blocks"])
    assert "submit" not in view
    for missing in ("the summary is empty", "the root cause analysis is empty", "there is no action item"):
        assert missing in text


async def test_draft_survives_a_restart_and_redis_loss(
    start_bot: Callable[..., Awaitable[Bot]], redis: Redis, keys: Keys
) -> None:
    """The draft is in SQL: after every Redis key is gone and another process starts, its sections are there."""
    bot = await start_bot()
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    await steps.edit(bot, number, SectionKey.SUMMARY, "Checkout was down")
    await redis.delete(*[key async for key in redis.scan_iter(match=f"{keys.prefix}*")])
    other = await start_bot()
    view = await steps.open_section(other, number, SectionKey.SUMMARY, user=BOB)
    assert view["blocks"][1]["element"]["initial_value"] == "Checkout was down"
    assert (await other.api(f"/api/postmortems/{number}"))["sections"]["summary"]["edited_by"] == ALICE


def test_manifest_declares_the_add_to_postmortem_shortcut() -> None:
    """The app manifest offers the message shortcut under the callback_id the bot listens for."""
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
    [shortcut] = manifest["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", CallbackId.ADD_TO_POSTMORTEM)
    assert "reaction_added" in manifest["settings"]["event_subscriptions"]["bot_events"]
