"""What happens to an incident: the events people (or alerts) ask of it, and the effects the imperative shell
must perform once the new state is stored. Plain data; `domain.incident` decides which events apply."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.severity import Severity
from domain.status import Status
from domain.timeline import TimelineEntry

# Events: what people (or alerts) ask of an incident.


@dataclass(frozen=True)
class Acknowledge:
    actor: str | None


@dataclass(frozen=True)
class ChangeStatus:
    actor: str | None
    status: Status


@dataclass(frozen=True)
class ChangeSeverity:
    actor: str | None
    severity: Severity


@dataclass(frozen=True)
class AssignRole:
    actor: str | None
    role: str
    user: str


@dataclass(frozen=True)
class AddNote:
    actor: str | None
    text: str


@dataclass(frozen=True)
class PostUpdate:
    actor: str | None
    text: str


@dataclass(frozen=True)
class Resolve:
    actor: str | None
    summary: str = ""


@dataclass(frozen=True)
class Reopen:
    actor: str | None


@dataclass(frozen=True)
class Close:
    """The incident's postmortem was published."""

    actor: str | None


@dataclass(frozen=True)
class CaptureMessage:
    """A message pinned (or 📌-reacted) in the incident channel; `at` is the message's own time."""

    actor: str | None
    author: str | None
    text: str
    at: datetime


Event = (
    Acknowledge
    | ChangeStatus
    | ChangeSeverity
    | AssignRole
    | AddNote
    | PostUpdate
    | Resolve
    | Reopen
    | Close
    | CaptureMessage
)


# Effects: what the imperative shell must do once the new state is stored.


@dataclass(frozen=True)
class Record:
    """Append this entry to the incident's timeline."""

    entry: TimelineEntry


@dataclass(frozen=True)
class RefreshCard:
    """Re-render the pinned incident card in place."""


class Change(StrEnum):
    """What a message about the incident tells; the handlers word it."""

    UPDATE = "update"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    REOPENED = "reopened"


@dataclass(frozen=True)
class PostInChannel:
    """Post a message about the change in the incident channel; `detail` is the person's text, if any."""

    change: Change
    detail: str = ""


@dataclass(frozen=True)
class Announce:
    """Post a message about the change in the announcement channel (INCIDENTS_CHANNEL)."""

    change: Change
    detail: str = ""


@dataclass(frozen=True)
class InviteToChannel:
    user: str


Effect = Record | RefreshCard | PostInChannel | Announce | InviteToChannel
