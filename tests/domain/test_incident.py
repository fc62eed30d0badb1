"""The incident state machine, tested as a table."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from domain import (
    COMMANDER,
    Acknowledge,
    AddNote,
    Announce,
    AssignRole,
    CaptureMessage,
    ChangeSeverity,
    ChangeStatus,
    Close,
    EntryKind,
    Event,
    Incident,
    InvalidTransition,
    InvalidValue,
    InviteToChannel,
    PostInChannel,
    PostUpdate,
    Record,
    RefreshCard,
    Reopen,
    Resolve,
    Severity,
    Status,
    TimelineEntry,
    apply,
    channel_name,
    declare,
)

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=7)


def make(status: Status = Status.DECLARED, **overrides: object) -> Incident:
    incident = Incident(
        number=42,
        title="Checkout is down",
        severity=Severity.SEV2,
        status=status,
        declared_by="U1",
        declared_at=T0,
    )
    if status in {Status.RESOLVED, Status.CLOSED}:
        incident = replace(incident, acknowledged_at=T0, resolved_at=T0)
    return replace(incident, **overrides)  # type: ignore[arg-type]


ACK = Acknowledge("U2")
INVESTIGATE = ChangeStatus("U2", Status.INVESTIGATING)
SEV1 = ChangeSeverity("U2", Severity.SEV1)
ROLE = AssignRole("U2", "comms", "U3")
NOTE = AddNote("U2", "looked at graphs")
UPDATE = PostUpdate("U2", "rolling back")
RESOLVE = Resolve("U2", "rolled back")
REOPEN = Reopen("U2")
CLOSE = Close("U2")
CAPTURE = CaptureMessage("U2", "U4", "error rate 40%", T0)
REFUSED = InvalidTransition

# (status before, event) -> status after, or REFUSED. Written out, not computed.
TABLE: list[tuple[Status, Event, Status | type[InvalidTransition]]] = [
    (Status.DECLARED, ACK, Status.ACKNOWLEDGED),
    (Status.DECLARED, INVESTIGATE, Status.INVESTIGATING),
    (Status.DECLARED, SEV1, Status.DECLARED),
    (Status.DECLARED, ROLE, Status.DECLARED),
    (Status.DECLARED, NOTE, Status.DECLARED),
    (Status.DECLARED, UPDATE, Status.DECLARED),
    (Status.DECLARED, RESOLVE, Status.RESOLVED),
    (Status.DECLARED, CLOSE, REFUSED),
    (Status.DECLARED, REOPEN, REFUSED),
    (Status.DECLARED, CAPTURE, Status.DECLARED),
    (Status.ACKNOWLEDGED, ACK, REFUSED),
    (Status.ACKNOWLEDGED, INVESTIGATE, Status.INVESTIGATING),
    (Status.ACKNOWLEDGED, SEV1, Status.ACKNOWLEDGED),
    (Status.ACKNOWLEDGED, ROLE, Status.ACKNOWLEDGED),
    (Status.ACKNOWLEDGED, NOTE, Status.ACKNOWLEDGED),
    (Status.ACKNOWLEDGED, UPDATE, Status.ACKNOWLEDGED),
    (Status.ACKNOWLEDGED, RESOLVE, Status.RESOLVED),
    (Status.ACKNOWLEDGED, CLOSE, REFUSED),
    (Status.ACKNOWLEDGED, REOPEN, REFUSED),
    (Status.ACKNOWLEDGED, CAPTURE, Status.ACKNOWLEDGED),
    (Status.INVESTIGATING, ACK, REFUSED),
    (Status.INVESTIGATING, INVESTIGATE, REFUSED),
    (Status.INVESTIGATING, SEV1, Status.INVESTIGATING),
    (Status.INVESTIGATING, ROLE, Status.INVESTIGATING),
    (Status.INVESTIGATING, NOTE, Status.INVESTIGATING),
    (Status.INVESTIGATING, UPDATE, Status.INVESTIGATING),
    (Status.INVESTIGATING, RESOLVE, Status.RESOLVED),
    (Status.INVESTIGATING, CLOSE, REFUSED),
    (Status.INVESTIGATING, REOPEN, REFUSED),
    (Status.INVESTIGATING, CAPTURE, Status.INVESTIGATING),
    (Status.IDENTIFIED, ACK, REFUSED),
    (Status.IDENTIFIED, INVESTIGATE, Status.INVESTIGATING),
    (Status.IDENTIFIED, SEV1, Status.IDENTIFIED),
    (Status.IDENTIFIED, ROLE, Status.IDENTIFIED),
    (Status.IDENTIFIED, NOTE, Status.IDENTIFIED),
    (Status.IDENTIFIED, UPDATE, Status.IDENTIFIED),
    (Status.IDENTIFIED, RESOLVE, Status.RESOLVED),
    (Status.IDENTIFIED, CLOSE, REFUSED),
    (Status.IDENTIFIED, REOPEN, REFUSED),
    (Status.IDENTIFIED, CAPTURE, Status.IDENTIFIED),
    (Status.MONITORING, ACK, REFUSED),
    (Status.MONITORING, INVESTIGATE, Status.INVESTIGATING),
    (Status.MONITORING, SEV1, Status.MONITORING),
    (Status.MONITORING, ROLE, Status.MONITORING),
    (Status.MONITORING, NOTE, Status.MONITORING),
    (Status.MONITORING, UPDATE, Status.MONITORING),
    (Status.MONITORING, RESOLVE, Status.RESOLVED),
    (Status.MONITORING, CLOSE, REFUSED),
    (Status.MONITORING, REOPEN, REFUSED),
    (Status.MONITORING, CAPTURE, Status.MONITORING),
    (Status.RESOLVED, ACK, REFUSED),
    (Status.RESOLVED, INVESTIGATE, REFUSED),
    (Status.RESOLVED, SEV1, REFUSED),
    (Status.RESOLVED, ROLE, REFUSED),
    (Status.RESOLVED, NOTE, REFUSED),
    (Status.RESOLVED, UPDATE, REFUSED),
    (Status.RESOLVED, RESOLVE, REFUSED),
    (Status.RESOLVED, CLOSE, Status.CLOSED),
    (Status.RESOLVED, REOPEN, Status.INVESTIGATING),
    (Status.RESOLVED, CAPTURE, REFUSED),
    (Status.CLOSED, ACK, REFUSED),
    (Status.CLOSED, INVESTIGATE, REFUSED),
    (Status.CLOSED, SEV1, REFUSED),
    (Status.CLOSED, ROLE, REFUSED),
    (Status.CLOSED, NOTE, REFUSED),
    (Status.CLOSED, UPDATE, REFUSED),
    (Status.CLOSED, RESOLVE, REFUSED),
    (Status.CLOSED, CLOSE, REFUSED),
    (Status.CLOSED, REOPEN, REFUSED),
    (Status.CLOSED, CAPTURE, REFUSED),
]


def test_the_table_covers_every_status_and_event() -> None:
    """Each status meets each kind of event exactly once in the table."""
    pairs = [(status, type(event)) for status, event, _ in TABLE]
    assert len(pairs) == len(set(pairs)) == len(Status) * len(get_args(Event))


@pytest.mark.parametrize(
    ("status", "event", "expected"),
    TABLE,
    ids=[f"{status.value}-{type(event).__name__}" for status, event, _ in TABLE],
)
def test_transition_table(status: Status, event: Event, expected: Status | type[InvalidTransition]) -> None:
    """Each (status, event) pair leads to the status in the table, or is refused."""
    incident = make(status)
    if expected is REFUSED:
        with pytest.raises(InvalidTransition):
            apply(incident, event, NOW)
    else:
        assert apply(incident, event, NOW).incident.status is expected


def test_resolved_refusal_names_reopen() -> None:
    """A resolved incident tells the user that only reopen is possible."""
    with pytest.raises(InvalidTransition, match="only `reopen`"):
        apply(make(Status.RESOLVED), AddNote("U2", "late note"), NOW)


def test_closed_refuses_reopen_naming_the_postmortem() -> None:
    """A closed incident (its postmortem published) refuses reopen with a message saying why."""
    with pytest.raises(InvalidTransition, match="closed: its postmortem is published"):
        apply(make(Status.CLOSED), Reopen("U2"), NOW)


def test_status_command_cannot_close() -> None:
    """Only publishing a postmortem closes an incident; `status closed` is refused."""
    with pytest.raises(InvalidTransition, match="closes when its postmortem is published"):
        apply(make(Status.MONITORING), ChangeStatus("U2", Status.CLOSED), NOW)


def test_acknowledge_sets_time_and_records() -> None:
    """Acknowledging stamps acknowledged_at and records who acknowledged."""
    result = apply(make(), Acknowledge("U2"), NOW)
    assert result.incident.acknowledged_at == NOW
    assert result.effects == (Record(TimelineEntry(NOW, EntryKind.ACKNOWLEDGED, "U2", "Acknowledged")), RefreshCard())


@pytest.mark.parametrize("event", [ChangeStatus("U2", Status.IDENTIFIED), Resolve("U2")])
def test_first_response_acknowledges(event: Event) -> None:
    """Moving a declared incident on counts as its acknowledgement (MTTA)."""
    assert apply(make(), event, NOW).incident.acknowledged_at == NOW


def test_acknowledged_at_is_kept() -> None:
    """Later status changes keep the first acknowledgement time."""
    incident = make(Status.ACKNOWLEDGED, acknowledged_at=T0)
    assert apply(incident, ChangeStatus("U2", Status.MONITORING), NOW).incident.acknowledged_at == T0


@pytest.mark.parametrize(
    ("status", "event", "message"),
    [
        (Status.INVESTIGATING, ChangeStatus("U2", Status.INVESTIGATING), "already investigating"),
        (Status.INVESTIGATING, ChangeStatus("U2", Status.DECLARED), "cannot go back to declared"),
        (Status.INVESTIGATING, ChangeSeverity("U2", Severity.SEV2), "already SEV-2"),
        (Status.ACKNOWLEDGED, Acknowledge("U2"), "already acknowledged"),
        (Status.MONITORING, Reopen("U2"), "not resolved"),
    ],
)
def test_refusals_say_why(status: Status, event: Event, message: str) -> None:
    """Refused events carry a message that says what is wrong."""
    with pytest.raises(InvalidTransition, match=message):
        apply(make(status), event, NOW)


def test_status_resolved_is_resolve() -> None:
    """`status resolved` resolves, with the same effects as `resolve`."""
    via_status = apply(make(Status.MONITORING), ChangeStatus("U2", Status.RESOLVED), NOW)
    via_resolve = apply(make(Status.MONITORING), Resolve("U2"), NOW)
    assert via_status == via_resolve
    assert via_status.incident.resolved_at == NOW


def test_resolve_keeps_summary_and_announces() -> None:
    """Resolving stores the summary, records it and announces the resolution."""
    result = apply(make(Status.MONITORING), Resolve("U2", "  rolled back v2.3 "), NOW)
    assert result.incident.summary == "rolled back v2.3"
    assert any(isinstance(e, Announce) and "rolled back v2.3" in e.detail for e in result.effects)


def test_reopen_clears_resolution() -> None:
    """Reopening returns to investigating and clears resolved_at."""
    result = apply(make(Status.RESOLVED), Reopen("U2"), NOW)
    assert (result.incident.status, result.incident.resolved_at) == (Status.INVESTIGATING, None)


def test_lead_sets_commander_and_invites() -> None:
    """Assigning the commander role sets the commander and invites them to the channel."""
    result = apply(make(Status.INVESTIGATING), AssignRole("U2", COMMANDER, "U9"), NOW)
    assert result.incident.commander == "U9"
    assert result.incident.roles == {"commander": "U9"}
    assert InviteToChannel("U9") in result.effects


def test_same_role_twice_is_refused() -> None:
    """Giving someone a role they already hold is refused instead of recorded twice."""
    incident = make(Status.INVESTIGATING, roles={"comms": "U3"})
    with pytest.raises(InvalidTransition, match="already the comms"):
        apply(incident, AssignRole("U2", "Comms", "U3"), NOW)


def test_escalation_is_announced_but_downgrade_is_not() -> None:
    """Raising severity announces it; lowering it only records it."""
    up = apply(make(Status.INVESTIGATING), ChangeSeverity("U2", Severity.SEV1), NOW)
    down = apply(make(Status.INVESTIGATING), ChangeSeverity("U2", Severity.SEV4), NOW)
    assert any(isinstance(e, Announce) for e in up.effects)
    assert not any(isinstance(e, Announce) for e in down.effects)
    assert down.incident.severity is Severity.SEV4


def test_update_posts_in_channel_and_announces() -> None:
    """An update is recorded, posted in the incident channel and announced."""
    result = apply(make(Status.IDENTIFIED), PostUpdate("U2", "fix deploying"), NOW)
    kinds = [type(e) for e in result.effects]
    assert kinds == [Record, PostInChannel, Announce]


@pytest.mark.parametrize("event", [AddNote("U2", "  "), PostUpdate("U2", "")])
def test_empty_text_is_refused(event: Event) -> None:
    """Notes and updates need text."""
    with pytest.raises(InvalidValue, match="empty"):
        apply(make(Status.INVESTIGATING), event, NOW)


def test_captured_message_keeps_its_own_time() -> None:
    """A pinned message is stamped with the message's time, not the pin's."""
    result = apply(make(Status.INVESTIGATING), CaptureMessage("U2", "U4", "p99 is 9s", T0), NOW)
    entry = result.effects[0].entry  # type: ignore[union-attr]
    assert (entry.kind, entry.at, entry.text) == (EntryKind.PINNED_MESSAGE, T0, "<@U4>: p99 is 9s")


def test_apply_is_pure() -> None:
    """Applying an event leaves the original incident untouched."""
    incident = make()
    apply(incident, Acknowledge("U2"), NOW)
    assert incident == make()


def test_declare_records_and_validates() -> None:
    """Declaring builds a declared incident with its timeline entry; an empty title is refused."""
    result = declare("  DB down ", Severity.SEV1, "U1", T0)
    assert (result.incident.title, result.incident.status, result.incident.number) == ("DB down", Status.DECLARED, 0)
    assert result.effects[0].entry.kind is EntryKind.DECLARED  # type: ignore[union-attr]
    with pytest.raises(InvalidValue):
        declare(" ", Severity.SEV1, "U1", T0)


@pytest.mark.parametrize(
    ("number", "title", "expected"),
    [
        (42, "Checkout API: 500s on /pay!!", "inc-42-checkout-api-500s-on-pay"),
        (7, "Ünïcode ✓ only", "inc-7-n-code-only"),
        (3, "!!!", "inc-3"),
        (1, "x" * 200, "inc-1-" + "x" * 74),
        (12, "a " * 60, "inc-12-" + "-".join(["a"] * 37)),
    ],
)
def test_channel_name(number: int, title: str, expected: str) -> None:
    """Channel names are lowercase slugs of at most 80 characters with no trailing hyphen."""
    name = channel_name(number, title)
    assert name == expected
    assert len(name) <= 80
