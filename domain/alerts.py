"""Alertmanager notifications: the payload model, normalisation, dedup tokens and routing. Pure.

Intake is a chain of small steps: parse (`Notification`) → dedup tokens per alert state → policy decisions
(severity, title, service) → `route` picks what happens to the alert group.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from domain.errors import IncidentError
from domain.incident import Incident
from domain.severity import Severity
from domain.status import Status
from domain.timeline import EntryKind, TimelineEntry

_ZERO_TIME_YEAR = 1  # Alertmanager sends endsAt 0001-01-01T00:00:00Z for firing alerts


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


# Newer Alertmanager versions add keys (notification_reason, routeLabels): ignore what we don't know.
_TOLERANT = ConfigDict(extra="ignore", populate_by_name=True)


class _Tolerant(BaseModel):
    model_config = _TOLERANT | ConfigDict(frozen=True)


@pydantic_dataclass(frozen=True, slots=True, config=_TOLERANT)
class Alert:
    """One alert of a notification. A dataclass with slots, not a model: a storm's webhook carries dozens, and
    they validate in 15 % less time (the whole notification) and take less memory. Copy with
    `dataclasses.replace`, which validates again."""

    status: AlertStatus
    labels: dict[str, str]
    starts_at: datetime = Field(alias="startsAt")
    fingerprint: str = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")

    @field_validator("ends_at")
    @classmethod
    def _zero_is_none(cls, value: datetime | None) -> datetime | None:
        return None if value is None or value.year == _ZERO_TIME_YEAR else value

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "unnamed alert")

    @property
    def token(self) -> str:
        """What makes this alert state new: repeats carry the same (fingerprint, status, startsAt)."""
        return _state_token(self.fingerprint, self.status, _printed(self.starts_at))

    @property
    def where(self) -> str:
        """A short label for this alert among its group: instance, pod or another distinguishing label."""
        for label in ("instance", "pod", "service", "job"):
            if label in self.labels:
                return self.labels[label]
        return self.fingerprint


class Notification(_Tolerant):
    """Alertmanager's webhook payload, version 4."""

    version: str
    group_key: str = Field(alias="groupKey", min_length=1)
    status: AlertStatus
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[Alert] = Field(min_length=1)
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value != "4":
            raise ValueError(f"webhook payload version {value!r} is not supported (expected '4')")
        return value


DEFAULT_SEVERITY_MAP: Mapping[str, Severity] = {
    "critical": Severity.SEV1,
    "error": Severity.SEV2,
    "warning": Severity.SEV3,
    "info": Severity.SEV4,
}


@dataclass(frozen=True)
class AlertPolicy:
    """How alert groups become incidents. Every field is a setting."""

    severity_map: Mapping[str, Severity] = field(default_factory=lambda: dict(DEFAULT_SEVERITY_MAP))
    severity_label: str = "severity"
    override_label: str = "incident_severity"
    unknown_severity: Severity = Severity.SEV3
    declare_up_to: Severity = Severity.SEV2  # SEV-1 and SEV-2 declare; SEV-3 and SEV-4 only notify
    service_labels: Sequence[str] = ("service", "team")
    reopen_window: timedelta = timedelta(hours=1)
    auto_resolve: frozenset[Severity] = frozenset()

    def severity(self, notification: Notification) -> Severity:
        """The most severe of the group's firing alerts (all alerts if none fires). Worked out once per distinct
        status and labels: a group's alerts mostly share them."""
        override, label = self.override_label, self.severity_label
        kinds = {
            (alert.status, alert.labels.get(override), alert.labels.get(label, "")) for alert in notification.alerts
        }
        firing = [kind for kind in kinds if kind[0] is AlertStatus.FIRING] or kinds
        return min(self._label_severity(overridden, value) for _, overridden, value in firing)

    def _label_severity(self, override: str | None, value: str) -> Severity:
        if override is not None:
            try:
                return Severity.parse(override)
            except IncidentError:
                pass  # an unreadable override falls back to the severity label
        return self.severity_map.get(value.lower(), self.unknown_severity)

    def service(self, notification: Notification) -> str | None:
        labels = notification.common_labels or notification.alerts[0].labels
        return next((labels[name] for name in self.service_labels if labels.get(name)), None)

    def declares(self, severity: Severity) -> bool:
        return severity <= self.declare_up_to


def title(notification: Notification) -> str:
    """`commonAnnotations.summary`, else the alertname."""
    summary = notification.common_annotations.get("summary", "").strip()
    if summary:
        return summary
    labels = notification.group_labels | notification.common_labels
    return labels.get("alertname") or notification.alerts[0].name


class Route(StrEnum):
    UPDATE = "update"  # the group's incident is open: follow it
    REOPEN = "reopen"  # it resolved within the reopen window and fires again
    DECLARE = "declare"  # new firing at or above the declare threshold
    NOTIFY = "notify"  # below the threshold: one message in the alerts channel, updated in place
    IGNORE = "ignore"  # nothing firing and nothing to follow


def route(
    notification: Notification,
    open_incident: Incident | None,
    last_resolved: Incident | None,
    policy: AlertPolicy,
    now: datetime,
) -> Route:
    """What a (new) notification of a group does, given the group's incidents."""
    if open_incident is not None:
        return Route.UPDATE
    if not any(alert.status is AlertStatus.FIRING for alert in notification.alerts):
        return Route.NOTIFY if not policy.declares(policy.severity(notification)) else Route.IGNORE
    reopenable = last_resolved is not None and last_resolved.status is Status.RESOLVED  # closed: postmortem published
    resolved_at = last_resolved.resolved_at if last_resolved and reopenable else None
    if resolved_at is not None and now - resolved_at <= policy.reopen_window:
        return Route.REOPEN
    return Route.DECLARE if policy.declares(policy.severity(notification)) else Route.NOTIFY


@dataclass(frozen=True)
class AlertRecord:
    """What we remember of one alert of a group, for the card and the 'all resolved' check."""

    fingerprint: str
    name: str
    where: str
    status: AlertStatus
    starts_at: datetime

    @classmethod
    def of(cls, alert: Alert) -> "AlertRecord":
        return cls(alert.fingerprint, alert.name, alert.where, alert.status, alert.starts_at)

    @property
    def token(self) -> str:
        """The same token as `Alert.token` for the alert state this record holds."""
        return _state_token(self.fingerprint, self.status, _printed(self.starts_at))


def state_tokens(alerts: Sequence[Alert]) -> list[str]:
    """Each alert's `token`, in half the time: a group's alerts share a few start times, and each is printed once
    (an aware datetime just parsed takes about a microsecond to hash and print, most of it asking its zone for
    the offset). Zone and fold are part of the key, as in `_isoformat`."""
    printed: dict[tuple[datetime, tzinfo | None, int], str] = {}
    tokens = []
    for alert in alerts:
        at = alert.starts_at
        key = (at, at.tzinfo, at.fold)
        text = printed.get(key)
        if text is None:
            text = printed[key] = at.isoformat()
        tokens.append(_state_token(alert.fingerprint, alert.status, text))
    return tokens


_STATUS_TEXT = {status: status.value for status in AlertStatus}  # `.value` goes through a descriptor, per call


def _state_token(fingerprint: str, status: AlertStatus, started: str) -> str:
    """The one spelling of a state token; `started` is the start time as `isoformat` prints it."""
    return f"{fingerprint}:{_STATUS_TEXT[status]}:{started}"


def _printed(at: datetime) -> str:
    return _isoformat(at, at.tzinfo, at.fold)


@lru_cache(maxsize=4096)
def _isoformat(at: datetime, zone: tzinfo | None, fold: int) -> str:
    """`at.isoformat()`, remembered: a group's alerts share a few start times and every notification repeats
    them. Zone and fold are part of the key because equal datetimes print alike only when both are the same
    (equal instants in other zones compare equal; so do a zone's two readings of a repeated hour)."""
    return at.isoformat()


@dataclass(frozen=True)
class GroupState:
    """What we keep of an alert group between notifications."""

    records: tuple[AlertRecord, ...] = ()
    truncated: int = 0
    title: str = ""
    severity: Severity = Severity.SEV3

    @property
    def summary(self) -> "AlertSummary":
        return AlertSummary.of(self.records, self.truncated)

    @property
    def all_resolved(self) -> bool:
        """`summary.all_resolved`, without sorting the records."""
        firing = sum(record.status is AlertStatus.FIRING for record in self.records)
        return _all_resolved(firing, self.truncated, len(self.records))

    def after(self, notification: Notification, policy: AlertPolicy) -> "GroupState":
        """The state once this notification is applied."""
        return self.fold([notification], policy)[0]

    def fold(self, notifications: Sequence[Notification], policy: AlertPolicy) -> tuple["GroupState", int]:
        """The state once the notifications are applied in order, up to and including the first that leaves
        every alert resolved (its notice is for that moment); and how many were applied (at least one).

        A record is made only for an alert whose state changed: a storm's notification repeats every alert of
        its group so far, and one of them is new. An alert's fingerprint is a hash of its labels, so its name
        and place are those of its record; equal instants printed with equal offsets print alike (the token)."""
        merged = {record.fingerprint: record for record in self.records}
        firing = sum(record.status is AlertStatus.FIRING for record in merged.values())
        applied = 0
        for notification in notifications:
            applied += 1
            for alert in notification.alerts:
                known = merged.get(alert.fingerprint)
                if known is None:
                    firing += alert.status is AlertStatus.FIRING
                elif known.status is not alert.status:
                    firing += 1 if alert.status is AlertStatus.FIRING else -1
                elif _same_time(known.starts_at, alert.starts_at):
                    continue
                merged[alert.fingerprint] = AlertRecord.of(alert)
            if _all_resolved(firing, notification.truncated_alerts, len(merged)):
                break
        last = notifications[applied - 1]
        state = GroupState(tuple(merged.values()), last.truncated_alerts, title(last), policy.severity(last))
        return state, applied


@dataclass(frozen=True)
class AlertSummary:
    """The group's alerts as the card shows them: counts, the first few, and Alertmanager's truncation."""

    firing: tuple[AlertRecord, ...]
    resolved: tuple[AlertRecord, ...]
    truncated: int = 0

    @classmethod
    def of(cls, records: Sequence[AlertRecord], truncated: int = 0) -> "AlertSummary":
        ordered = sorted(records, key=lambda r: (r.starts_at, r.where))
        return cls(
            firing=tuple(r for r in ordered if r.status is AlertStatus.FIRING),
            resolved=tuple(r for r in ordered if r.status is AlertStatus.RESOLVED),
            truncated=truncated,
        )

    @property
    def all_resolved(self) -> bool:
        return _all_resolved(len(self.firing), self.truncated, len(self.firing) + len(self.resolved))


def new_alerts(notification: Notification, new_tokens: frozenset[str]) -> list[tuple[str, Alert]]:
    """The notification's alerts whose state is new (`new_tokens`, as intake found them), with their tokens."""
    if not new_tokens:  # a repeat
        return []
    alerts = notification.alerts
    return [(token, alert) for token, alert in zip(state_tokens(alerts), alerts, strict=True) if token in new_tokens]


def alert_entries(new: Sequence[tuple[str, Alert]]) -> list[tuple[str, TimelineEntry]]:
    """One timeline entry per new alert state (`new_alerts`), stamped with the alert's own time, with its
    once-token."""
    entries = []
    for token, alert in new:
        summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
        at = alert.starts_at if alert.status is AlertStatus.FIRING else alert.ends_at or alert.starts_at
        entries.append((f"alert:{token}", _entry(alert.status, at, alert.name, alert.where, summary)))
    return entries


def record_entries(records: Sequence[AlertRecord]) -> list[TimelineEntry]:
    """What a group's alerts did before an incident followed it (a group declared by hand), as timeline entries."""
    return [_entry(r.status, r.starts_at, r.name, r.where) for r in records]


def _entry(status: AlertStatus, at: datetime, name: str, where: str, summary: str = "") -> TimelineEntry:
    detail = f"{name} on {where}" + (f": {summary}" if summary else "")
    if status is AlertStatus.FIRING:
        return TimelineEntry(at, EntryKind.ALERT_FIRING, None, f"Firing: {detail}")
    return TimelineEntry(at, EntryKind.ALERT_RESOLVED, None, f"Resolved: {detail}")


def _all_resolved(firing: int, truncated: int, known: int) -> bool:
    """Every alert of the group resolved: none firing, none left out by Alertmanager, and some alert known."""
    return not firing and not truncated and known > 0


def _same_time(known: datetime, seen: datetime) -> bool:
    return known == seen and known.utcoffset() == seen.utcoffset()
