"""The postmortem's Slack effects after `kill -9` (and Redis lost) and a Slack answering 5xx: the draft, the
review requests, the replies in its thread, the published post and its summary, and the reminders each go out
exactly once."""

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.appkeys import REMINDERS
from domain.postmortem import SectionKey
from handlers.postmortems import FAMILY, modals
from handlers.postmortems.values import PostmortemRef, ReminderBody, ReminderKind
from handlers.slack import ActionId, BlockId, CallbackId
from sandbox.slack_api import SlackEmulator
from storage import Keys, create_engine
from storage.effects import EffectStore
from storage.timers import Timer, TimerStore
from tests.bot import postmortem_steps as steps
from tests.bot.harness import ALICE, BOB, CAROL, Bot
from tests.faults.conftest import INCIDENTS, Start
from tests.faults.scenario import command_to, interact_with
from tests.processes import BotProcess

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
DRAFT = "Postmortem of incident"


async def _until(slack: SlackEmulator, check: Callable[[], bool], timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Wait until `check()` holds of what Slack has stored (at most `timeout` seconds)."""
    async with asyncio.timeout(timeout):
        while not check():
            await slack.changed(slack.version, 1.0)


async def _all_done(database_url: str) -> None:
    """Wait (at most 15 s) until no queued effect is left pending: a retry after a lease runs out comes a
    repair round later than the effects queued behind it."""
    engine = create_engine(database_url)
    try:
        for _ in range(150):
            if not await EffectStore(engine).due(datetime(2100, 1, 1, tzinfo=UTC)):
                return
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    raise AssertionError("queued effects still pending after 15 s")


def _posted(slack: SlackEmulator) -> int:
    return len([c for c in slack.calls_to("chat.postMessage") if c.ok])


def _draft_shows(slack: SlackEmulator, channel: str, text: str) -> bool:
    return any(text in json.dumps(m.get("blocks", []), ensure_ascii=False) for m in _drafts(slack, channel))


def _dms(slack: SlackEmulator) -> Counter[str]:
    """Who got a direct message (a review request or a reminder), and how many."""
    posts = [c for c in slack.calls_to("chat.postMessage") if c.ok]
    users = [slack.dm_user(str(c.args["channel"])) or str(c.args["channel"]) for c in posts]
    return Counter(user for user in users if user.startswith("U"))


def _in_thread(slack: SlackEmulator, channel: str, text: str) -> list[str]:
    """The replies in a thread of `channel` that contain `text`."""
    return [
        m["text"]
        for (c, ts), m in slack.messages.items()
        if c == channel and m.get("thread_ts", ts) != ts and text in m["text"]
    ]


def _drafts(slack: SlackEmulator, channel: str) -> list[dict[str, Any]]:
    """The draft messages in `channel` (not the published postmortem, which starts with 📕)."""
    return [m for (c, _), m in slack.messages.items() if c == channel and m["text"].startswith(DRAFT)]


def _submission(callback: CallbackId, state: dict[str, Any], ref: PostmortemRef | None = None) -> dict[str, Any]:
    """Alice submitting a modal about postmortem #1 with these inputs."""
    view = {
        "id": f"V0{callback.upper()}",
        "type": "modal",
        "callback_id": callback,
        "private_metadata": (ref or PostmortemRef(number=1)).dump(),
        "hash": "",
        "state": {"values": state},
    }
    return {"type": "view_submission", "user": {"id": ALICE}, "team": {"id": "T0TEAM"}, "api_app_id": "A0APP"} | {
        "view": view
    }


def _review_submission(reviewers: list[str]) -> dict[str, Any]:
    """Alice's "Ask for review" modal, submitted with these reviewers."""
    state: dict[str, Any] = {
        BlockId.PM_REVIEWERS: {"value": {"type": "multi_users_select", "selected_users": reviewers}}
    }
    return _submission(CallbackId.POSTMORTEM_REVIEW, state)


def _approval(slack: SlackEmulator, channel: str) -> dict[str, Any]:
    """Bob clicking Approve on the draft."""
    action = {
        "type": "button",
        "action_id": ActionId.POSTMORTEM_APPROVE,
        "block_id": "b",
        "value": PostmortemRef(number=1).dump(),
        "action_ts": str(time.time()),
    }
    return {
        "type": "block_actions",
        "user": {"id": BOB},
        "team": {"id": "T0TEAM"},
        "api_app_id": "A0APP",
        "trigger_id": "trigger-approve",
        "actions": [action],
        "response_url": slack.new_response_url(channel, BOB),
        "channel": {"id": channel},
        "container": {"type": "message"},
    }


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def _resolved(session: aiohttp.ClientSession, bot: BotProcess, slack: SlackEmulator) -> str:
    """Incident #1 declared and resolved; its channel."""
    await command_to(session, bot, "declare Checkout is down sev2")
    [card] = await slack.wait_for("pins.add")
    channel = str(card.args["channel"])
    await command_to(session, bot, "resolve Rolled back the deploy", channel=channel)
    await _until(slack, lambda: any("#1 resolved" in str(c.args["text"]) for c in slack.calls_to("chat.postMessage")))
    return channel


async def _with_draft(session: aiohttp.ClientSession, bot: BotProcess, slack: SlackEmulator) -> str:
    """Incident #1 resolved, its postmortem started and its draft pinned; the channel."""
    channel = await _resolved(session, bot, slack)
    await command_to(session, bot, "postmortem", channel=channel)
    await slack.wait_for("pins.add", count=2)
    return channel


async def _add_item(session: aiohttp.ClientSession, bot: BotProcess) -> None:
    """Action item 1 of incident #1, Bob's."""
    item = steps.text_state(BlockId.PM_ITEM_TEXT, "Validate config")
    item |= steps.option_state(BlockId.PM_ITEM_KIND, "prevent")
    item |= {BlockId.PM_ITEM_OWNER: {"value": {"type": "users_select", "selected_user": BOB}}}
    await interact_with(session, bot, _submission(CallbackId.POSTMORTEM_ITEM, item))


async def test_a_draft_cut_off_by_kill_9_is_found_and_pinned_by_the_next_process(
    processes: Start, slack: SlackEmulator, session: aiohttp.ClientSession, database_url: str
) -> None:
    """Killed after Slack stored the draft and before the bot heard so: the next process pins that draft."""
    first = await processes("first", REMINDER_INTERVAL="0.2")
    channel = await _resolved(session, first, slack)
    posted = _posted(slack)
    held = slack.hold("chat.postMessage")
    assert "#1" in await command_to(session, first, "postmortem", channel=channel)
    await slack.wait_for("chat.postMessage", count=posted + 1)  # the draft is in the channel; its answer is held
    await first.kill()
    held.set()
    await processes("second", REMINDER_INTERVAL="0.2")
    pins = await slack.wait_for("pins.add", count=2, timeout=15)
    await _all_done(database_url)
    [draft] = _drafts(slack, channel)
    assert (pins[-1].args["channel"], pins[-1].args["timestamp"]) == (channel, draft["ts"])


async def test_review_requests_cut_off_by_kill_9_go_out_once_each(
    processes: Start, slack: SlackEmulator, session: aiohttp.ClientSession, database_url: str
) -> None:
    """Killed while Slack held its answer to Bob's review request (Carol's not sent yet): after a restart Bob
    has his request once, Carol hers, and the draft shows both reviewers."""
    first = await processes("first", REMINDER_INTERVAL="0.2")
    channel = await _with_draft(session, first, slack)
    posted = _posted(slack)
    held = slack.hold("chat.postMessage")
    assert await interact_with(session, first, _review_submission([BOB, CAROL])) == ""
    await slack.wait_for("chat.postMessage", count=posted + 1)  # Bob's DM is stored; its answer is held
    await first.kill()
    held.set()
    await processes("second", REMINDER_INTERVAL="0.2")
    await _until(slack, lambda: _draft_shows(slack, channel, f"reviewers <@{BOB}>, <@{CAROL}>"))
    await _all_done(database_url)
    assert _dms(slack) == Counter({BOB: 1, CAROL: 1})
    assert len(_drafts(slack, channel)) == 1


async def test_an_approval_cut_off_by_kill_9_is_replied_once_and_the_draft_redrawn(
    processes: Start, slack: SlackEmulator, session: aiohttp.ClientSession, database_url: str
) -> None:
    """Killed while Slack held its answer to the approval's reply in the draft's thread: after a restart the
    reply is there once and the draft shows the approval."""
    first = await processes("first", REMINDER_INTERVAL="0.2")
    channel = await _with_draft(session, first, slack)
    await interact_with(session, first, _review_submission([BOB]))
    await _until(slack, lambda: _draft_shows(slack, channel, f"reviewers <@{BOB}>"))
    posted = _posted(slack)
    held = slack.hold("chat.postMessage")
    await interact_with(session, first, _approval(slack, channel))
    await slack.wait_for("chat.postMessage", count=posted + 1)  # the reply is in the thread; its answer is held
    await first.kill()
    held.set()
    await processes("second", REMINDER_INTERVAL="0.2")
    await _until(slack, lambda: _draft_shows(slack, channel, f"<@{BOB}> ✅"))
    await _all_done(database_url)
    assert len(_in_thread(slack, channel, "approved the postmortem")) == 1
    calls = slack.calls_to("chat.postMessage")
    assert len([c for c in calls if c.ok and "approved the postmortem" in str(c.args["text"])]) == 1


@pytest.mark.parametrize("flushed", [False, True], ids=["redis-kept", "redis-flushed"])
async def test_a_publication_cut_off_by_kill_9_is_announced_once_by_the_next_process(
    processes: Start,
    slack: SlackEmulator,
    session: aiohttp.ClientSession,
    database_url: str,
    redis: Redis,
    keys: Keys,
    flushed: bool,
) -> None:
    """Killed while Slack held its answer to the published postmortem's post (and, flushed, Redis lost every
    key meanwhile): the next process posts the summary in INCIDENTS_CHANNEL, does not post the postmortem
    again, and re-renders the draft."""
    first = await processes("first", REMINDER_INTERVAL="0.2")
    channel = await _with_draft(session, first, slack)
    for key, text in ((SectionKey.SUMMARY, "Checkout failed"), (SectionKey.ROOT_CAUSE, "A config push")):
        ref, state = PostmortemRef(number=1, section=key), steps.text_state(modals.part_ids(1)[0], text)
        await interact_with(session, first, _submission(CallbackId.POSTMORTEM_SECTION, state, ref))
    await _add_item(session, first)
    await _all_done(database_url)
    posted = _posted(slack)
    held = slack.hold("chat.postMessage")
    assert await interact_with(session, first, _submission(CallbackId.POSTMORTEM_PUBLISH, {})) == ""
    await slack.wait_for("chat.postMessage", count=posted + 1)  # the postmortem is in the channel; answer held
    await first.kill()
    held.set()
    if flushed:
        await redis.delete(*[key async for key in redis.scan_iter(match=f"{keys.prefix}*")])
    await processes("second", REMINDER_INTERVAL="0.2")
    incidents = next(c.id for c in slack.channels.values() if c.name == INCIDENTS)
    await _until(slack, lambda: len(_published(slack, incidents)) == 1)
    await _all_done(database_url)
    assert (len(_published(slack, channel)), len(_published(slack, incidents))) == (1, 1)
    assert [m["text"].rsplit(": ", 1)[-1] for m in _drafts(slack, channel)] == ["published"]


def _published(slack: SlackEmulator, channel: str) -> list[str]:
    """The published postmortem's posts (or its summaries) in `channel`."""
    posts = [c for c in slack.calls_to("chat.postMessage") if c.ok and c.args["channel"] == channel]
    return [str(c.args["text"]) for c in posts if "📕" in str(c.args["text"])]


async def test_review_requests_slack_refuses_with_5xx_go_out_once(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """Slack answering 500 to a review request beyond the client's retries: the queue sends it once later."""
    bot = await start_bot(slack_effect_backoff=0.01)
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    bot.slack.fail("chat.postMessage", "internal_error", times=3, status=500)
    await bot.interact(_review_submission([BOB]))
    assert _dms(bot.slack) == Counter({BOB: 1})
    assert (await bot.api(f"/api/postmortems/{number}"))["state"] == "in_review"


async def test_a_reminder_cut_off_by_kill_9_is_sent_once_by_the_next_process(
    processes: Start,
    slack: SlackEmulator,
    session: aiohttp.ClientSession,
    database_url: str,
    redis: Redis,
    keys: Keys,
) -> None:
    """Killed while Slack held its answer to a reminder DM (its timer already completed): the next process
    finds the DM and does not send it again."""
    first = await processes("first", REMINDER_INTERVAL="0.2")
    await _with_draft(session, first, slack)
    await _add_item(session, first)
    await _all_done(database_url)
    held = slack.hold("chat.postMessage")
    body = ReminderBody(kind=ReminderKind.ITEM_DUE, number=1, item=1)  # its day has come
    await TimerStore(redis, keys, family=FAMILY).schedule(body.timer_id(), datetime.now(UTC), body.dump())
    await _until(slack, lambda: _dms(slack)[BOB] == 1)  # the DM is stored; its answer is held
    await first.kill()
    held.set()
    await processes("second", REMINDER_INTERVAL="0.2")
    await _all_done(database_url)
    assert _dms(slack) == Counter({BOB: 1})


async def _item_due(bot: Bot) -> Timer:
    """Incident #1's postmortem with an open action item of Bob's due today; its due-day reminder, claimed."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    await steps.add_item(bot, number, "Validate config", owner=BOB, due="2026-11-27")
    bot.clock.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    body = ReminderBody(kind=ReminderKind.ITEM_DUE, number=number, item=1)
    return Timer(body.timer_id(), body.dump())


async def test_a_reminder_slack_refuses_with_5xx_is_sent_once(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """Slack answering 500 to a reminder DM beyond the client's retries: it is retried, and Bob has it once."""
    bot = await start_bot(slack_effect_backoff=0.01)
    timer = await _item_due(bot)
    bot.slack.fail("chat.postMessage", "internal_error", times=3, status=500)
    await bot.http.app[REMINDERS].fire(timer)
    await bot.settle()
    assert _dms(bot.slack) == Counter({BOB: 1})


async def test_a_reminder_whose_timer_fires_again_after_a_crash_is_sent_once(
    start_bot: Callable[..., Awaitable[Bot]],
) -> None:
    """A process that queued the reminder and died before completing its timer: the timer fires again on
    another process (its lease ran out), and Bob still has the reminder once: the second firing queues nothing."""
    bot = await start_bot()
    timer = await _item_due(bot)
    reminders, read = bot.http.app[REMINDERS], len(bot.slack.calls_to("conversations.history"))
    await reminders.fire(timer)
    await bot.settle()
    assert len(bot.slack.calls_to("conversations.history")) == read  # a first firing reads no history
    await reminders.fire(timer)  # the same reminder, fired again the same day
    await bot.settle()
    assert len(bot.slack.calls_to("conversations.history")) == read
    dms = [c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if c.ok and c.args["channel"] == BOB]
    assert [text.split(": ")[0] for text in dms] == ["⏰ Action item 1 of incident #1 is due today"]
