"""Block Kit primitives every capability's message builders use. Pure: data in, dicts out.

Text from people or alerts goes through `escape` before it enters mrkdwn, except slash-command text, which
Slack escaped already (`should_escape`). Stored incident texts (titles, descriptions, notes, summaries) are kept
in that mrkdwn-safe form: slash text as Slack sent it, modal input and alert text escaped on arrival. What we
render ourselves (mentions of parsed user IDs, our links) is built after escaping. Each builder cuts its text
to Slack's documented limits (section text 3,000, field 2,000, header 150, button value 2,000...).
"""

import re
from collections.abc import Sequence
from datetime import datetime

from handlers.slack.ids import ActionId

Block = dict[str, object]

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
BUTTON_VALUE_LIMIT = 2000
TITLE_LIMIT = 200  # an incident or alert group title is one line: the card's header shows 150 characters of it
MESSAGE_TEXT_LIMIT = 39000  # Slack truncates a message's `text` past 40,000 characters
_SAFE_URL = re.compile(r"https?://[^\s|<>]+", re.IGNORECASE)


def escape(text: str) -> str:
    """Text from a person or an alert, made inert in mrkdwn: `&`, `<` and `>` as Slack's entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Mrkdwn-safe text back as plain text, for `plain_text` objects (which Slack shows as they are)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def link(url: str, label: str) -> str:
    """A link with an escaped label, only for an http(s) URL without `|`, `<`, `>` or spaces; else plain text."""
    if _SAFE_URL.fullmatch(url):
        return f"<{url.replace('&', '&amp;')}|{escape(label)}>"
    return f"{escape(label)} ({escape(url)})" if label != url else escape(url)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn(text: str) -> dict[str, object]:
    return {"type": "mrkdwn", "text": text}


def plain(text: str) -> dict[str, object]:
    return {"type": "plain_text", "text": text, "emoji": True}


def section(text: str) -> Block:
    """A mrkdwn section, cut to Slack's 3,000-character limit."""
    return {"type": "section", "text": mrkdwn(clip(text, SECTION_LIMIT))}


def field(text: str) -> dict[str, object]:
    """A mrkdwn field of a section, cut to Slack's 2,000-character limit."""
    return mrkdwn(clip(text, FIELD_LIMIT))


def header(text: str) -> Block:
    """A header block: mrkdwn-safe text shown as plain text, cut to 150 characters."""
    return {"type": "header", "text": plain(clip(unescape(text), HEADER_LIMIT))}


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
