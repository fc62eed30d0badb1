"""Alert normalisation, dedup tokens, severity policy and routing, with the real captured payloads."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain import Incident, Severity, Status
from domain.alerts import (
    AlertPolicy,
    AlertRecord,
    AlertStatus,
    AlertSummary,
    GroupState,
    Notification,
    Route,
    alert_entries,
    new_alerts,
    route,
    state_tokens,
    title,
)
from domain.timeline import EntryKind
from tests.fixtures import ALERTMANAGER as FIXTURES

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def load(name: str, **changes: Any) -> Notification:
    data = json.loads((FIXTURES / f"{name}.json").read_text()) | changes
    return Notification.model_validate(data)


def incident(status: Status, resolved_ago: timedelta | None = None) -> Incident:
    resolved_at = NOW - resolved_ago if resolved_ago is not None else None
    return Incident(1, "x", Severity.SEV1, status, None, NOW - timedelta(hours=3), resolved_at=resolved_at)


def test_parses_real_payloads() -> None:
    """Every captured payload parses; firing alerts have no end time; 9-digit fractions are accepted."""
    for path in sorted(FIXTURES.glob("0*.json")):
        notification = Notification.model_validate_json(path.read_bytes())
        for alert in notification.alerts:
            assert (alert.ends_at is None) == (alert.status is AlertStatus.FIRING), path.name
    truncated = load("06-firing-truncated-max-alerts-2")
    assert truncated.truncated_alerts == 2
    assert truncated.alerts[0].starts_at.microsecond == 237126


def test_repeat_has_the_same_tokens() -> None:
    """The re-sent notification (byte-identical) yields the same dedup tokens."""
    first, repeat = load("01-firing-single-critical"), load("02-repeat-single-critical")
    assert [a.token for a in first.alerts] == [a.token for a in repeat.alerts]


def test_resolution_changes_the_token() -> None:
    """The same alert resolved is a new state: its token differs."""
    firing, partly = load("03-firing-group-of-3"), load("04-firing-group-one-resolved")
    assert {a.token for a in firing.alerts} != {a.token for a in partly.alerts}
    assert len({a.token for a in firing.alerts} & {a.token for a in partly.alerts}) == 2


def test_token_prints_each_start_time_as_it_is() -> None:
    """Equal instants in other offsets, or a repeated hour's two readings, keep their own printed start time."""
    utc = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    berlin = datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    plus_one = timezone(timedelta(hours=1))
    times = [utc, utc.astimezone(plus_one), berlin, berlin.replace(fold=1), utc.replace(tzinfo=None)]
    for _ in range(2):  # the second time round, from what the first remembered
        tokens = [AlertRecord("f", "n", "w", AlertStatus.FIRING, at).token for at in times]
        assert tokens == [f"f:firing:{at.isoformat()}" for at in times]
    assert len(set(tokens)) == len(times)
    alert = load("01-firing-single-critical").alerts[0]
    starts = [*times, *times]  # each printed once per call, then remembered
    alerts = [replace(alert, starts_at=at) for at in starts]  # type: ignore[call-arg]  # mypy knows the alias only
    assert state_tokens(alerts) == [a.token for a in alerts]
    assert state_tokens(alerts) == [f"{alert.fingerprint}:firing:{at.isoformat()}" for at in starts]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": "3"}, "version '3' is not supported"),
        ({"alerts": []}, "at least 1 item"),
        ({"groupKey": ""}, "at least 1 character"),
        ({"truncatedAlerts": -1}, "greater than or equal to 0"),
        ({"status": "pending"}, "Input should be 'firing' or 'resolved'"),
    ],
)
def test_malformed_payloads_are_refused(change: dict[str, Any], message: str) -> None:
    """Malformed notifications are refused with a message naming the problem."""
    with pytest.raises(ValidationError, match=message):
        load("01-firing-single-critical", **change)


@pytest.mark.parametrize(
    ("labels", "severity"),
    [
        ({"severity": "critical"}, Severity.SEV1),
        ({"severity": "error"}, Severity.SEV2),
        ({"severity": "WARNING"}, Severity.SEV3),
        ({"severity": "info"}, Severity.SEV4),
        ({"severity": "weird"}, Severity.SEV3),
        ({}, Severity.SEV3),
        ({"severity": "info", "incident_severity": "1"}, Severity.SEV1),
        ({"severity": "critical", "incident_severity": "sev4"}, Severity.SEV4),
        ({"severity": "error", "incident_severity": "urgent"}, Severity.SEV2),
    ],
)
def test_severity_from_labels(labels: dict[str, str], severity: Severity) -> None:
    """The severity label maps through the policy; an incident_severity label wins when readable."""
    base = json.loads((FIXTURES / "01-firing-single-critical.json").read_text())
    base["alerts"][0]["labels"] = {"alertname": "X", **labels}
    assert AlertPolicy().severity(Notification.model_validate(base)) is severity


def test_group_severity_is_the_worst_firing_alert() -> None:
    """A group is as severe as its most severe firing alert."""
    base = json.loads((FIXTURES / "03-firing-group-of-3.json").read_text())
    base["alerts"][1]["labels"]["severity"] = "critical"
    assert AlertPolicy().severity(Notification.model_validate(base)) is Severity.SEV1


def test_title_and_service() -> None:
    """Title is the common summary, else the alertname; service follows the label list."""
    assert title(load("01-firing-single-critical")) == "Checkout 5xx error rate above 5%"
    assert title(load("01-firing-single-critical", commonAnnotations={})) == "CheckoutHighErrorRate"
    assert AlertPolicy().service(load("01-firing-single-critical")) == "checkout"
    assert AlertPolicy().service(load("06-firing-truncated-max-alerts-2")) == "db"
    assert AlertPolicy(service_labels=("job",)).service(load("03-firing-group-of-3")) == "node"


CRITICAL, WARNING, RESOLVED = "01-firing-single-critical", "03-firing-group-of-3", "05-resolved-group-of-3"


@pytest.mark.parametrize(
    ("fixture", "latest", "expected"),
    [
        (CRITICAL, None, Route.DECLARE),
        (WARNING, None, Route.NOTIFY),
        (RESOLVED, None, Route.NOTIFY),
        (CRITICAL, incident(Status.INVESTIGATING), Route.UPDATE),
        (WARNING, incident(Status.DECLARED), Route.UPDATE),
        (RESOLVED, incident(Status.MONITORING), Route.UPDATE),
        (CRITICAL, incident(Status.RESOLVED, timedelta(minutes=59)), Route.REOPEN),
        (WARNING, incident(Status.RESOLVED, timedelta(minutes=10)), Route.REOPEN),
        (CRITICAL, incident(Status.RESOLVED, timedelta(minutes=61)), Route.DECLARE),
        (WARNING, incident(Status.RESOLVED, timedelta(hours=2)), Route.NOTIFY),
        (CRITICAL, incident(Status.CLOSED, timedelta(minutes=10)), Route.DECLARE),  # its postmortem is published
        (WARNING, incident(Status.CLOSED, timedelta(minutes=10)), Route.NOTIFY),
        ("06-firing-truncated-max-alerts-2", None, Route.DECLARE),
    ],
)
def test_route_table(fixture: str, latest: Incident | None, expected: Route) -> None:
    """(notification, the group's latest incident) → what happens, as a table."""
    is_open = latest is not None and latest.status.is_open
    actual = route(load(fixture), latest if is_open else None, None if is_open else latest, AlertPolicy(), NOW)
    assert actual is expected


def test_resolved_only_group_above_threshold_is_ignored() -> None:
    """Only-resolved alerts of an unknown, incident-worthy group change nothing."""
    resolved_critical = load(CRITICAL, status="resolved")
    alerts = [replace(a, status=AlertStatus.RESOLVED) for a in resolved_critical.alerts]
    notification = resolved_critical.model_copy(update={"alerts": alerts})
    assert route(notification, None, None, AlertPolicy(), NOW) is Route.IGNORE


def test_threshold_is_configurable() -> None:
    """Declaring up to SEV-3 turns a warning group into an incident."""
    assert route(load(WARNING), None, None, AlertPolicy(declare_up_to=Severity.SEV3), NOW) is Route.DECLARE


def test_entries_only_for_new_states_at_their_own_time() -> None:
    """Timeline entries exist only for new alert states, stamped with startsAt or endsAt."""
    partly = load("04-firing-group-one-resolved")
    resolved = next(a for a in partly.alerts if a.status is AlertStatus.RESOLVED)
    assert new_alerts(partly, frozenset()) == []
    [(once, entry)] = alert_entries(new_alerts(partly, frozenset({resolved.token})))
    assert once == f"alert:{resolved.token}"
    assert (entry.kind, entry.at) == (EntryKind.ALERT_RESOLVED, resolved.ends_at)
    assert "node-2.prod:9100" in entry.text


def test_group_state_follows_notifications() -> None:
    """Merging notifications keeps one record per fingerprint; all resolved only when nothing fires."""
    policy = AlertPolicy()
    state = GroupState().after(load("03-firing-group-of-3"), policy)
    assert len(state.summary.firing) == 3
    state = state.after(load("04-firing-group-one-resolved"), policy)
    assert (len(state.summary.firing), len(state.summary.resolved)) == (2, 1)
    assert not state.summary.all_resolved
    assert not state.all_resolved
    state = state.after(load(RESOLVED), policy)
    assert state.summary.all_resolved
    assert state.all_resolved
    assert not replace(state, truncated=2).all_resolved
    assert not GroupState().all_resolved
    assert (state.title, state.severity) == ("Disk space low on /var", Severity.SEV3)


def test_a_run_folds_as_its_notifications_one_by_one() -> None:
    """`fold` gives what `after` gives applied in turn, stops after the notification that leaves every alert
    resolved, and keeps the record of an alert whose state did not change."""
    policy = AlertPolicy()
    names = ["03-firing-group-of-3", "04-firing-group-one-resolved", "03-firing-group-of-3", RESOLVED, WARNING]
    notifications = [load(name) for name in names]
    state, applied = GroupState().fold(notifications, policy)
    assert applied == 4  # the fourth leaves all resolved; the fifth is for the next run
    one_by_one = GroupState()
    for notification in notifications[:applied]:
        one_by_one = one_by_one.after(notification, policy)
    assert state == one_by_one
    assert state.summary.all_resolved
    first = GroupState().after(notifications[0], policy)
    again, _ = first.fold([notifications[0]], policy)
    assert all(kept is known for kept, known in zip(again.records, first.records, strict=True))
    assert GroupState().fold(notifications[:3], policy)[1] == 3


def test_fold_tells_equal_instants_in_other_zones_apart() -> None:
    """An alert whose start is the same instant printed with another offset is a new state (its token differs),
    so its record is made again."""
    data = json.loads((FIXTURES / "03-firing-group-of-3.json").read_text())
    state = GroupState().after(Notification.model_validate(data), AlertPolicy())
    alert = Notification.model_validate(data).alerts[0]
    shifted = alert.starts_at.astimezone(timezone(timedelta(hours=2)))
    data["alerts"] = [data["alerts"][0] | {"startsAt": shifted.isoformat()}]
    after = state.after(Notification.model_validate(data), AlertPolicy())
    [record] = [r for r in after.records if r.fingerprint == alert.fingerprint]
    assert record.starts_at.utcoffset() == timedelta(hours=2)
    assert record.token != next(r for r in state.records if r.fingerprint == alert.fingerprint).token


def test_truncated_groups_are_never_all_resolved() -> None:
    """With alerts left out by Alertmanager, the group cannot be known to be resolved."""
    records = GroupState().after(load(RESOLVED), AlertPolicy()).records
    assert AlertSummary.of(records).all_resolved
    assert not replace(AlertSummary.of(records), truncated=2).all_resolved
