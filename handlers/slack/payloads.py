"""Pydantic models of the Slack payloads we listen to, so `Any` stops at the listener's first line."""

from pydantic import BaseModel, ConfigDict, Field


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


class BlockActions(_Model):
    user: _Id
    actions: list[_Action] = Field(min_length=1)
    channel: _Id | None = None


class _InputValue(_Model):
    value: str | None = None
    selected_option: _Option | None = None
    selected_options: list[_Option] = Field(default_factory=list)  # checkboxes


class _ViewState(_Model):
    values: dict[str, dict[str, _InputValue]]


class _View(_Model):
    id: str
    callback_id: str
    state: _ViewState

    def input(self, block_id: str) -> str:
        """The value typed or chosen in an input block (`action_id` "value"), or ""."""
        field = self.state.values.get(block_id, {}).get("value")
        if field is None:
            return ""
        return field.selected_option.value if field.selected_option else (field.value or "")

    def checked(self, block_id: str) -> set[str]:
        """The values of the boxes ticked in a checkboxes input block (`action_id` "value")."""
        field = self.state.values.get(block_id, {}).get("value")
        return set() if field is None else {option.value for option in field.selected_options}


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


class _PinnedMessage(_Model):
    ts: str
    text: str = ""
    user: str | None = None
    bot_id: str | None = None


class _PinItem(_Model):
    type: str
    message: _PinnedMessage | None = None


class PinAdded(_Model):
    user: str
    channel_id: str
    item: _PinItem
