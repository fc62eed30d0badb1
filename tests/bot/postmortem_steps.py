"""Steps a team takes on a postmortem, driven like Slack does (signed clicks, modal submissions, commands)."""

import json
from typing import Any

from domain.postmortem import SectionKey
from handlers.postmortems.values import PostmortemRef
from handlers.slack import ActionId, BlockId
from sandbox.blockkit import view_errors
from tests.bot.harness import ALICE, Bot


def text_state(block_id: str, text: str) -> dict[str, Any]:
    return {block_id: {"value": {"type": "plain_text_input", "value": text}}}


def option_state(block_id: str, value: str) -> dict[str, Any]:
    return {block_id: {"value": {"type": "static_select", "selected_option": {"value": value}}}}


def opened_view(bot: Bot) -> dict[str, Any]:
    """The modal the bot opened last, as the fake Slack stores it (with its id and hash)."""
    call = bot.slack.calls_to("views.open")[-1]
    assert call.ok, call.error
    callback = call.args["view"]["callback_id"]
    return max((v for v in bot.slack.views.values() if v["callback_id"] == callback), key=lambda v: str(v["id"]))


def response_view(raw: str) -> dict[str, Any]:
    """The view a view_submission answered with (`response_action: update`), checked against Slack's limits."""
    body = json.loads(raw)
    assert body["response_action"] == "update", body
    view: dict[str, Any] = body["view"]
    assert view_errors(view, surface="modal") == []
    return view | {"id": "V0ANSWERED"}


async def resolved(bot: Bot, text: str = "Checkout is down sev2") -> tuple[int, str]:
    """Declare and resolve an incident; its number and channel."""
    incident = await bot.declare(text)
    channel = incident["channel_id"]
    await bot.command("resolve rolled back the deploy", channel=channel)
    return int(incident["number"]), str(channel)


async def start(bot: Bot, channel: str, user: str = ALICE) -> str:
    return await bot.command("postmortem", channel=channel, user=user)


async def open_section(bot: Bot, number: int, section: SectionKey, user: str = ALICE) -> dict[str, Any]:
    """Click a section's Edit button; the modal it opened."""
    await bot.click(ActionId.POSTMORTEM_EDIT, PostmortemRef(number=number, section=section).dump(), user=user)
    return opened_view(bot)


async def save_section(bot: Bot, view: dict[str, Any], text: str, user: str = ALICE) -> str:
    """Submit an opened section modal with `text` split over its inputs; the raw answer body."""
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    parts = [text[i * 3000 : (i + 1) * 3000] for i in range(len(inputs))]
    state: dict[str, Any] = {}
    for block_id, part in zip(inputs, parts, strict=True):
        state |= text_state(block_id, part)
    response = await bot.submit(view, state, user=user)
    assert response.status == 200
    return await response.text()


async def edit(bot: Bot, number: int, section: SectionKey, text: str, user: str = ALICE) -> str:
    return await save_section(bot, await open_section(bot, number, section, user), text, user)


async def add_item(bot: Bot, number: int, text: str, owner: str, priority: str = "p1", due: str = "") -> None:
    await bot.click(ActionId.POSTMORTEM_ADD_ITEM, PostmortemRef(number=number).dump())
    state = text_state(BlockId.PM_ITEM_TEXT, text) | option_state(BlockId.PM_ITEM_KIND, "prevent")
    state |= option_state(BlockId.PM_ITEM_PRIORITY, priority)
    state |= {BlockId.PM_ITEM_OWNER: {"value": {"type": "users_select", "selected_user": owner}}}
    if due:
        state |= {BlockId.PM_ITEM_DUE: {"value": {"type": "datepicker", "selected_date": due}}}
    response = await bot.submit(opened_view(bot), state)
    assert response.status == 200
    assert await response.text() == ""


async def publish(bot: Bot, number: int, user: str = ALICE) -> str:
    """Click Publish and submit its modal; the raw answer body ("" when published)."""
    await bot.click(ActionId.POSTMORTEM_PUBLISH, PostmortemRef(number=number).dump(), user=user)
    view = opened_view(bot)
    assert "submit" in view, view["blocks"]
    response = await bot.submit(view, {}, user=user)
    return await response.text()


def draft_message(bot: Bot, channel: str) -> dict[str, Any]:
    """The pinned postmortem draft as the channel shows it now."""
    drafts = [m for (c, _), m in bot.slack.messages.items() if c == channel and "Postmortem of incident" in m["text"]]
    assert len(drafts) == 1, [m["text"] for m in drafts]
    return drafts[0]


def draft_text(bot: Bot, channel: str) -> str:
    return json.dumps(draft_message(bot, channel)["blocks"], ensure_ascii=False)
