"""Pydantic models of the Slack payloads we listen to, so `Any` stops at the listener's first line."""

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but tab and newlines, and DEL


_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_NESTED = ("event", "view", "user", "channel", "container", "team")  # objects Bolt reads without checking


def well_formed_signature(timestamp: str | None, signature: str | None) -> bool:
    """Slack's signature headers have one shape; anything else is refused before Bolt's verifier sees it."""
    return bool(_TIMESTAMP.fullmatch(timestamp or "") and _SIGNATURE.fullmatch(signature or ""))


def shape_problem(body: object) -> str | None:
    """What makes a parsed Slack body unusable before any listener runs (Bolt indexes into these), or None."""
    if not isinstance(body, dict):
        return "the Slack payload is not a JSON object"
    for key in _NESTED:
        if key in body and not isinstance(body[key], dict | str):
            return f"`{key}` in the Slack payload is not an object"
    if isinstance(body.get("event"), str) or isinstance(body.get("view"), str):
        return "`event` and `view` in the Slack payload must be objects"
    if "view" in body and not isinstance(body["view"].get("type"), str):
        return "`view.type` in the Slack payload is not a string"
    return None


def has_control_characters(text: str) -> bool:
    """Typed text never holds these (and SQL refuses NUL): input that does is refused, not stored."""
    return _CONTROL.search(text) is not None


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlashCommand(_Model):
    command: str
    text: str = ""
    user_id: str
    channel_id: str
    trigger_id: str


class _Id(_Model):
    id: str


class _Option(_Model):
    value: str


class _Action(_Model):
    action_id: str
    value: str | None = None
    selected_option: _Option | None = None

    @property
    def chosen(self) -> str:
        return self.selected_option.value if self.selected_option else (self.value or "")


class _InputValue(_Model):
    value: str | None = None
    selected_option: _Option | None = None
    selected_user: str | None = None
    selected_users: list[str] = []
    selected_date: str | None = None
    selected_date_time: int | None = None
    selected_options: list[_Option] = []


class _ViewState(_Model):
    values: dict[str, dict[str, _InputValue]] = {}


class _View(_Model):
    id: str
    callback_id: str = ""
    state: _ViewState = _ViewState()
    private_metadata: str = ""
    hash: str = ""

    def input(self, block_id: str) -> str:
        """The value typed or chosen in an input block (`action_id` "value"), or ""."""
        field = self.state.values.get(block_id, {}).get("value")
        if field is None:
            return ""
        if field.selected_option:
            return field.selected_option.value
        return field.value or field.selected_user or field.selected_date or ""

    def moment(self, block_id: str) -> datetime | None:
        """The instant chosen in a datetimepicker input block (`action_id` "value"), or None."""
        field = self.state.values.get(block_id, {}).get("value")
        chosen = field.selected_date_time if field else None
        return None if chosen is None else datetime.fromtimestamp(chosen, UTC)

    def options(self, block_id: str) -> list[str]:
        """The values chosen in a multi-select or checkboxes input block (`action_id` "value")."""
        field = self.state.values.get(block_id, {}).get("value")
        return [option.value for option in field.selected_options] if field else []

    def users(self, block_id: str) -> list[str]:
        """The people chosen in a multi-user select input block (`action_id` "value")."""
        field = self.state.values.get(block_id, {}).get("value")
        return list(field.selected_users) if field else []


class BlockActions(_Model):
    user: _Id
    actions: list[_Action] = Field(min_length=1)
    channel: _Id | None = None
    trigger_id: str = ""
    view: _View | None = None  # set when the button is in a modal


class ViewSubmission(_Model):
    user: _Id
    view: _View


class _ReactionItem(_Model):
    type: str
    channel: str = ""
    ts: str = ""


class ReactionAdded(_Model):
    user: str
    reaction: str
    item: _ReactionItem


class _Message(_Model):
    """A message as pins and shortcuts carry it."""

    ts: str
    text: str = ""
    user: str | None = None
    bot_id: str | None = None


class _PinItem(_Model):
    type: str
    message: _Message | None = None


class PinAdded(_Model):
    user: str
    channel_id: str
    item: _PinItem


class MessageShortcut(_Model):
    """A message shortcut ("Add to postmortem") chosen on a message."""

    callback_id: str
    trigger_id: str
    user: _Id
    channel: _Id
    message: _Message
