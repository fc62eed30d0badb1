"""Slack answering 5xx, 429 and slowly, and a notification gateway that never takes the page."""

from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from handlers.paging import PAGER
from tests.bot.harness import Bot
from tests.faults.scenario import command, timeline_kinds, with_webhook

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
UPDATE = "update Rolled back the deploy"


def _posted(bot: Bot, text: str) -> Counter[str]:
    """Channel → how many messages containing `text` Slack stored there."""
    calls = bot.slack.calls_to("chat.postMessage")
    return Counter(str(c.args["channel"]) for c in calls if c.ok and text in str(c.args["text"]))


async def _declared(start_bot: Callable[..., Awaitable[Bot]]) -> tuple[Bot, str]:
    bot = await start_bot(slack_effect_backoff=0.01)
    incident = await bot.declare("Checkout is down sev2")
    return bot, str(incident["channel_id"])


async def test_an_update_slack_refuses_with_5xx_beyond_its_retries_is_posted_once_later(
    start_bot: Callable[..., Awaitable[Bot]],
) -> None:
    """Slack answers 500 to three posts in a row (more than the client retries): the queue posts it once."""
    bot, channel = await _declared(start_bot)
    bot.slack.fail("chat.postMessage", "internal_error", times=3, status=500)
    await bot.command(UPDATE, channel=channel)
    assert _posted(bot, "Rolled back the deploy") == Counter({channel: 1, bot.incidents_channel: 1})


async def test_an_update_slack_rate_limits_is_posted_once(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """A 429 with Retry-After is waited out: the update is posted once in each channel."""
    bot, channel = await _declared(start_bot)
    bot.slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=1)
    await bot.command(UPDATE, channel=channel)
    assert _posted(bot, "Rolled back the deploy") == Counter({channel: 1, bot.incidents_channel: 1})


async def test_a_slow_slack_does_not_hold_the_answer_and_posts_once(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """Slack holds its reply to the post: the user is answered meanwhile, and the update goes out once."""
    bot, channel = await _declared(start_bot)
    held = bot.slack.hold("chat.postMessage")
    reply = await command(bot, UPDATE, channel=channel)
    assert reply.startswith("✓ #1")
    held.set()
    await bot.settle()
    assert _posted(bot, "Rolled back the deploy") == Counter({channel: 1, bot.incidents_channel: 1})


async def test_a_gateway_that_keeps_failing_ends_in_page_failed_and_a_warning(
    start_bot: Callable[..., Awaitable[Bot]],
) -> None:
    """A notification gateway answering 503 to every attempt: `page_failed` on the timeline, a channel warning."""
    attempts: list[int] = []

    async def gateway(request: web.Request) -> web.Response:
        attempts.append(1)
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/sms", gateway)
    async with TestServer(app, host="127.0.0.1") as server:
        config = with_webhook(str(server.make_url("/sms")))
        bot = await start_bot(
            oncall=config,
            pager_interval=3600,
            pager_wake=False,
            slack_effect_backoff=0.01,
            slack_effect_attempts=3,
            page_ack_secret="test-page-ack-secret",
            public_url="https://bot.example",
        )
        incident = await bot.declare("Checkout is down sev1")
        await bot.http.app[PAGER].tick()
        await bot.settle()
    assert len(attempts) == 3
    kinds = await timeline_kinds(bot)
    assert (kinds["paged"], kinds["page_failed"]) == (1, 1)  # the DM went out; the gateway never took it
    assert _posted(bot, "notification gateway never took the page") == Counter({incident["channel_id"]: 1})
