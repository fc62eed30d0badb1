"""What the fault tests share: an on-call config, a command that does not wait on Redis, and what Slack got."""

import json
from collections import Counter
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import aiohttp

from domain.paging_config import OnCall, load_config
from tests.bot.harness import ALICE, GENERAL, Bot, sign
from tests.processes import BotProcess

PRIMARY, MANAGER = "U0PRIMARY", "U0MANAGER"

ONCALL = load_config(
    {
        "rotations": {"primary": {"members": [PRIMARY], "shift": "1w", "handoff": "2026-01-05T09:00"}},
        "escalation_policies": {
            "platform": {
                "steps": [
                    {"targets": ["rotation:primary"], "ack_timeout": "5m"},
                    {"targets": [f"user:{MANAGER}"], "ack_timeout": "5m"},
                ]
            }
        },
        "default_escalation_policy": "platform",
        "page_on_declare": [1],
    },
    "faults-oncall.yaml",
)


def with_webhook(url: str) -> OnCall:
    """One step paging the primary, whose pages also go to a notification gateway at `url`."""
    return load_config(
        {
            "rotations": {"primary": {"members": [PRIMARY], "shift": "1w", "handoff": "2026-01-05T09:00"}},
            "escalation_policies": {"p": {"steps": [{"targets": ["rotation:primary"], "ack_timeout": "5m"}]}},
            "default_escalation_policy": "p",
            "page_on_declare": [1],
            "users": {PRIMARY: {"notify_webhook": url}},
        },
        "faults-oncall.yaml",
    )


def _command_form(text: str, user: str, channel: str, response_url: str) -> str:
    form = {
        "command": "/incident",
        "text": text,
        "user_id": user,
        "channel_id": channel,
        "team_id": "T0TEAM",
        "response_url": response_url,
        "trigger_id": f"trigger-{uuid4().hex}",
    }
    return urlencode(form)


async def command(bot: Bot, text: str, user: str = ALICE, channel: str = GENERAL) -> str:
    """`/incident <text>`, answered: unlike `Bot.command` it does not wait for the worker (Redis may be down)."""
    form = _command_form(text, user, channel, bot.response_url())
    response = await bot.post_signed(form, "application/x-www-form-urlencoded")
    assert response.status == 200, await response.text()
    raw = await response.text()
    return str(json.loads(raw).get("text", "")) if response.content_type == "application/json" else raw


def page_dms(bot: Bot) -> Counter[str]:
    """Who got a page DM, and how many."""
    posts = bot.slack.calls_to("chat.postMessage")
    return Counter(
        str(bot.slack.dm_user(c.args["channel"])) for c in posts if c.ok and str(c.args["text"]).startswith("Paged:")
    )


async def timeline_kinds(bot: Bot, number: int = 1) -> Counter[str]:
    events: list[dict[str, Any]] = (await bot.api(f"/api/incidents/{number}/timeline"))["events"]
    return Counter(event["kind"] for event in events)


async def command_to(session: aiohttp.ClientSession, bot: BotProcess, text: str, channel: str = GENERAL) -> str:
    """`/incident <text>` from Alice, sent to a bot process; its answer."""
    return await _send(session, bot, _command_form(text, ALICE, channel, "http://127.0.0.1:9/unused"))


async def interact_with(session: aiohttp.ClientSession, bot: BotProcess, payload: dict[str, Any]) -> str:
    """A click or a modal submission, sent to a bot process; its answer."""
    return await _send(session, bot, urlencode({"payload": json.dumps(payload)}))


async def _send(session: aiohttp.ClientSession, bot: BotProcess, body: str) -> str:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    async with session.post(f"{bot.url}/slack/events", data=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.text()
