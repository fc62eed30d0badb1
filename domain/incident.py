"""The incident state machine.

`apply(incident, event, now)` is pure: it returns the next incident and the effects the shell must
perform, or raises InvalidTransition. Which events each status accepts is one table, `TRANSITIONS`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.errors import InvalidTransition, InvalidValue
from domain.events import (
    Acknowledge,
    AddNote,
    Announce,
    AssignRole,
    CaptureMessage,
    Change,
    ChangeSeverity,
    ChangeStatus,
    Close,
    Effect,
    Event,
    InviteToChannel,
    PostInChannel,
    PostUpdate,
    Record,
    RefreshCard,
    Reopen,
    Resolve,
)
from domain.severity import Severity
from domain.status import OPEN_STATUSES, Status
from domain.timeline import EntryKind, TimelineEntry

COMMANDER = "commander"


@dataclass(frozen=True)
class Incident:
    number: int
    title: str
    severity: Severity
    status: Status
    declared_by: str | None
    declared_at: datetime
    description: str = ""
    commander: str | None = None
    roles: Mapping[str, str] = field(default_factory=dict)
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    summary: str = ""
    channel_id: str | None = None
    channel_name: str | None = None
    card_ts: str | None = None
    announcement_ts: str | None = None
    source_group_key: str | None = None  # the Alertmanager group that opened it, if any
    service: str | None = None  # the affected service (alert label, or `service:<name>` on declare)
    drill: bool = False  # a rehearsal: runs like any other, counts in no metric or report
    revision: int = 0  # opaque to the model; storage uses it to refuse lost updates


@dataclass(frozen=True)
class Transition:
    incident: Incident
    effects: tuple[Effect, ...]


Handler = Callable[[Incident, Event, datetime], Transition]


def declare(
    title: str,
    severity: Severity,
    declared_by: str | None,
    now: datetime,
    description: str = "",
    source_group_key: str | None = None,
    service: str | None = None,
    drill: bool = False,
) -> Transition:
    """A new incident (number 0 until storage assigns one), with its `declared` timeline entry."""
    if not title.strip():
        raise InvalidValue("An incident needs a title.")
    incident = Incident(
        number=0,
        title=title.strip(),
        severity=severity,
        status=Status.DECLARED,
        declared_by=declared_by,
        declared_at=now,
        description=description.strip(),
        source_group_key=source_group_key,
        service=service,
        drill=drill,
    )
    what = f"drill {severity.label}" if drill else severity.label
    entry = TimelineEntry(now, EntryKind.DECLARED, declared_by, f"Declared {what}: {incident.title}")
    return Transition(incident, (Record(entry),))


def apply(incident: Incident, event: Event, now: datetime) -> Transition:
    """Apply `event` at `now`, or raise InvalidTransition naming what is possible instead."""
    handler = TRANSITIONS.get((incident.status, type(event)))
    if handler is None:
        raise InvalidTransition(_refusal(incident, event))
    return handler(incident, event, now)


def _refusal(incident: Incident, event: Event) -> str:
    if incident.status is Status.CLOSED:
        number = incident.number
        return f"Incident #{number} is closed: its postmortem is published, so it cannot be reopened or changed."
    if isinstance(event, Close):
        return f"Incident #{incident.number} is not resolved, so it cannot be closed."
    if incident.status is Status.RESOLVED:
        return f"Incident #{incident.number} is resolved: only `reopen` is possible."
    if isinstance(event, Acknowledge):
        return f"Incident #{incident.number} is already acknowledged."
    if isinstance(event, Reopen):
        return f"Incident #{incident.number} is not resolved, so it cannot be reopened."
    return f"Incident #{incident.number} ({incident.status.value}) does not accept that."


def _first_response(incident: Incident, now: datetime) -> datetime:
    """The first human action on a declared incident counts as its acknowledgement."""
    return incident.acknowledged_at or now


def _entry(now: datetime, kind: EntryKind, actor: str | None, text: str) -> Record:
    return Record(TimelineEntry(now, kind, actor, text))


def _acknowledge(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, Acknowledge)
    updated = replace(incident, status=Status.ACKNOWLEDGED, acknowledged_at=now)
    return Transition(updated, (_entry(now, EntryKind.ACKNOWLEDGED, event.actor, "Acknowledged"), RefreshCard()))


def _change_status(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, ChangeStatus)
    if event.status is Status.RESOLVED:
        return _resolve(incident, Resolve(event.actor), now)
    if event.status is incident.status:
        raise InvalidTransition(f"Incident #{incident.number} is already {incident.status.value}.")
    if event.status is Status.DECLARED:
        raise InvalidTransition(f"Incident #{incident.number} cannot go back to declared.")
    if event.status is Status.CLOSED:
        raise InvalidTransition(f"Incident #{incident.number} closes when its postmortem is published.")
    updated = replace(incident, status=event.status, acknowledged_at=_first_response(incident, now))
    text = f"Status {incident.status.value} → {event.status.value}"
    return Transition(updated, (_entry(now, EntryKind.STATUS_CHANGED, event.actor, text), RefreshCard()))


def _change_severity(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, ChangeSeverity)
    if event.severity is incident.severity:
        raise InvalidTransition(f"Incident #{incident.number} is already {incident.severity.label}.")
    updated = replace(incident, severity=event.severity)
    text = f"Severity {incident.severity.label} → {event.severity.label}"
    effects: tuple[Effect, ...] = (_entry(now, EntryKind.SEVERITY_CHANGED, event.actor, text), RefreshCard())
    if event.severity < incident.severity:
        effects += (Announce(Change.ESCALATED),)
    return Transition(updated, effects)


def _assign_role(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, AssignRole)
    role = event.role.strip().lower()
    if not role:
        raise InvalidValue("A role needs a name, e.g. `role comms @user`.")
    if incident.roles.get(role) == event.user:
        raise InvalidTransition(f"<@{event.user}> is already the {role} of incident #{incident.number}.")
    roles = {**incident.roles, role: event.user}
    commander = event.user if role == COMMANDER else incident.commander
    updated = replace(incident, roles=roles, commander=commander)
    record = _entry(now, EntryKind.ROLE_ASSIGNED, event.actor, f"<@{event.user}> is {role}")
    return Transition(updated, (record, RefreshCard(), InviteToChannel(event.user)))


def _add_note(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, AddNote)
    return Transition(incident, (_entry(now, EntryKind.NOTE, event.actor, _required(event.text, "note")),))


def _post_update(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, PostUpdate)
    text = _required(event.text, "update")
    return Transition(
        incident,
        (
            _entry(now, EntryKind.UPDATE, event.actor, text),
            PostInChannel(Change.UPDATE, text),
            Announce(Change.UPDATE, text),
        ),
    )


def _resolve(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, Resolve)
    summary = event.summary.strip()
    updated = replace(
        incident,
        status=Status.RESOLVED,
        resolved_at=now,
        acknowledged_at=_first_response(incident, now),
        summary=summary or incident.summary,
    )
    text = f"Resolved: {summary}" if summary else "Resolved"
    return Transition(
        updated,
        (_entry(now, EntryKind.RESOLVED, event.actor, text), RefreshCard(), Announce(Change.RESOLVED, summary)),
    )


def _reopen(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, Reopen)
    updated = replace(incident, status=Status.INVESTIGATING, resolved_at=None)
    return Transition(
        updated,
        (_entry(now, EntryKind.REOPENED, event.actor, "Reopened"), RefreshCard(), Announce(Change.REOPENED)),
    )


def _close(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, Close)
    updated = replace(incident, status=Status.CLOSED)
    record = _entry(now, EntryKind.CLOSED, event.actor, "Closed: postmortem published")
    return Transition(updated, (record, RefreshCard()))


def _capture_message(incident: Incident, event: Event, now: datetime) -> Transition:
    assert isinstance(event, CaptureMessage)
    author = f"<@{event.author}>: " if event.author else ""
    return Transition(incident, (_entry(event.at, EntryKind.PINNED_MESSAGE, event.actor, author + event.text),))


def _required(text: str, what: str) -> str:
    if not text.strip():
        raise InvalidValue(f"The {what} is empty: write it after the subcommand, e.g. `{what} rolled back deploy`.")
    return text.strip()


def _open_transitions() -> dict[tuple[Status, type], Handler]:
    per_event: dict[type, Handler] = {
        ChangeStatus: _change_status,
        ChangeSeverity: _change_severity,
        AssignRole: _assign_role,
        AddNote: _add_note,
        PostUpdate: _post_update,
        Resolve: _resolve,
        CaptureMessage: _capture_message,
    }
    return {(status, kind): handler for status in OPEN_STATUSES for kind, handler in per_event.items()}


TRANSITIONS: Mapping[tuple[Status, type], Handler] = {
    **_open_transitions(),
    (Status.DECLARED, Acknowledge): _acknowledge,
    (Status.RESOLVED, Reopen): _reopen,
    (Status.RESOLVED, Close): _close,
}


def channel_name(number: int, title: str, prefix: str = "") -> str:
    """`inc-<number>-<slug>` (after `prefix`, for drills): lowercase letters, digits and hyphens, at most 80."""
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in title.lower())
    slug = "-".join(part for part in slug.split("-") if part)
    name = f"{prefix}inc-{number}-{slug}" if slug else f"{prefix}inc-{number}"
    return name[:80].rstrip("-")
