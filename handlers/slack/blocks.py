"""Block Kit primitives every capability's message builders use. Pure: data in, dicts out."""

from collections.abc import Sequence
from datetime import datetime

from handlers.slack.ids import ActionId

Block = dict[str, object]

SECTION_LIMIT = 3000
BUTTON_VALUE_LIMIT = 2000


def mrkdwn(text: str) -> dict[str, object]:
    return {"type": "mrkdwn", "text": text}


def plain(text: str) -> dict[str, object]:
    return {"type": "plain_text", "text": text, "emoji": True}


def section(text: str) -> Block:
    """A mrkdwn section, cut to Slack's 3,000-character limit."""
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": mrkdwn(text)}


def button(text: str, action_id: ActionId, value: str, style: str | None = None) -> dict[str, object]:
    element: dict[str, object] = {"type": "button", "text": plain(text), "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    return element


def select(placeholder: str, action_id: ActionId, options: Sequence[tuple[str, str]]) -> dict[str, object]:
    return {
        "type": "static_select",
        "placeholder": plain(placeholder),
        "action_id": action_id,
        "options": [{"text": plain(label), "value": value} for label, value in options],
    }


def actions(*elements: dict[str, object], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def slack_date(at: datetime) -> str:
    """A date each reader sees in their own timezone."""
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def by(user: str | None) -> str:
    return f" by <@{user}>" if user else ""
