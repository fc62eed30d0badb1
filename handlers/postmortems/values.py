"""The values postmortems send round trips through Slack and Redis, each typed and serialised here only.

`PostmortemRef` is every button `value` and modal `private_metadata`; `ReminderBody` is every reminder timer's
body. Both are pydantic models, so what comes back is checked, never trusted as raw text.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.postmortem import SectionKey


class PostmortemRef(BaseModel):
    """Which postmortem (the incident's number), and where relevant which section at which version, which action
    item, or which message is being added."""

    model_config = ConfigDict(frozen=True)

    number: int
    section: SectionKey | None = None
    version: int = 0
    item: int | None = None
    channel: str | None = None
    message_ts: str | None = None

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True, exclude_defaults=True)

    @classmethod
    def load(cls, raw: str) -> "PostmortemRef":
        return cls.model_validate_json(raw)


class ReminderKind(StrEnum):
    ITEM_SOON = "item_soon"  # the day before an action item is due
    ITEM_DUE = "item_due"  # on its due date
    ITEM_OVERDUE = "item_overdue"  # weekly while it is overdue
    POSTMORTEM_SOON = "postmortem_soon"
    POSTMORTEM_DUE = "postmortem_due"
    POSTMORTEM_OVERDUE = "postmortem_overdue"
    DIGEST = "digest"  # the weekly digest of what is overdue


class ReminderBody(BaseModel):
    kind: ReminderKind
    number: int = 0
    item: int = 0

    def dump(self) -> dict[str, object]:
        return self.model_dump(mode="json")

    @classmethod
    def load(cls, body: dict[str, object]) -> "ReminderBody":
        return cls.model_validate(body)

    def timer_id(self) -> str:
        """One timer per reminder: scheduling it again moves it instead of adding another."""
        return f"{self.kind.value}:{self.number}:{self.item}"
