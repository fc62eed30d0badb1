"""The incident state machine, tested as a table."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

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


EVERY_EVENT: list[Event] = [
    Acknowledge("U2"),
    ChangeStatus("U2", Status.INVESTIGATING),
    ChangeSeverity("U2", Severity.SEV1),
    AssignRole("U2", "comms", "U3"),
    AddNote("U2", "looked at graphs"),
    PostUpdate("U2", "rolling back"),
    Resolve("U2", "rolled back"),
    Reopen("U2"),
    Close("U2"),
    CaptureMessage("U2", "U4", "error rate 40%", T0),
]

# (status, event type) -> status after, or InvalidTransition.
TABLE: dict[tuple[Status, type], Status | type[InvalidTransition]] = {}
for _status in Status:
    for _event in EVERY_EVENT:
        TABLE[(_status, type(_event))] = _status if _status.is_open else InvalidTransition
    TABLE[(_status, Acknowledge)] = Status.ACKNOWLEDGED if _status is Status.DECLARED else InvalidTransition
    TABLE[(_status, Reopen)] = Status.INVESTIGATING if _status is Status.RESOLVED else InvalidTransition
    TABLE[(_status, Close)] = Status.CLOSED if _status is Status.RESOLVED else InvalidTransition
    if _status.is_open:
        TABLE[(_status, Resolve)] = Status.RESOLVED
        TABLE[(_status, ChangeStatus)] = InvalidTransition if _status is Status.INVESTIGATING else Status.INVESTIGATING


@pytest.mark.parametrize(
    ("status", "event"),
    [(status, event) for status in Status for event in EVERY_EVENT],
    ids=lambda v: v.value if isinstance(v, Status) else type(v).__name__,
)
def test_transition_table(status: Status, event: Event) -> None:
    """Each (status, event) pair leads to the status in the table, or is refused."""
    expected = TABLE[(status, type(event))]
    incident = make(status)
    if expected is InvalidTransition:
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
    assert result.effects[0] == Record(result.effects[0].entry)  # type: ignore[union-attr]
    entry = result.effects[0].entry
    assert (entry.kind, entry.actor, entry.at) == (EntryKind.ACKNOWLEDGED, "U2", NOW)
    assert RefreshCard() in result.effects


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
