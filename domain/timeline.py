"""Timeline entries: what happened to an incident, when, and who did it."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class EntryKind(StrEnum):
    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    STATUS_CHANGED = "status_changed"
    SEVERITY_CHANGED = "severity_changed"
    ROLE_ASSIGNED = "role_assigned"
    NOTE = "note"
    UPDATE = "update"
    PINNED_MESSAGE = "pinned_message"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    ALERT_FIRING = "alert_firing"
    ALERT_RESOLVED = "alert_resolved"
    RUNBOOK = "runbook"
    PAGED = "paged"
    PAGE_FAILED = "page_failed"
    ESCALATED = "escalated"
    UNANSWERED = "unanswered"
    TARGET_BREACHED = "target_breached"


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: EntryKind
    actor: str | None
    text: str
