"""The `incidents` table and the mapping between its rows and `Incident` (`storage.incidents` queries it)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Row, String, Table, Text
from sqlmodel import Field, SQLModel

from domain.incident import Incident
from domain.severity import Severity
from domain.status import Status
from storage.columns import UTCDateTime, utc

# Covering indexes for the metrics (migration 0008): every aggregate reads an index range, never the table.
METRICS_INDEX = (
    "drill", "severity", "declared_at", "service", "acknowledged_at", "resolved_at", "ack_seconds",
    "resolve_seconds", "response_due_at", "resolution_due_at", "impact_started_at", "impact_ended_at",
)  # fmt: skip
SERVICES_INDEX = ("drill", "service", *(c for c in METRICS_INDEX if c not in {"drill", "service"}))


class IncidentRow(SQLModel, table=True):
    """One incident. Its schema is created by migration 0001, not by `create_all`."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("severity BETWEEN 1 AND 4", name="ck_incidents_severity"),
        Index("ix_incidents_status", "status"),
        Index("ix_incidents_channel_id", "channel_id", unique=True),
        Index("ix_incidents_idempotency_key", "idempotency_key", unique=True),
        Index("ix_incidents_source_group_key", "source_group_key"),
        Index("ix_incidents_metrics", *METRICS_INDEX),
        Index("ix_incidents_services", *SERVICES_INDEX),
        Index("ix_incidents_ack_seconds", "drill", "ack_seconds", "declared_at", "resolved_at", "severity", "service"),
        Index(
            "ix_incidents_resolve_seconds",
            "drill",
            "resolve_seconds",
            "declared_at",
            "resolved_at",
            "severity",
            "service",
        ),
        Index("ix_incidents_open", "resolved_at", "drill", "severity"),
        {"sqlite_autoincrement": True},
    )

    number: int = Field(primary_key=True)
    title: str = Field(sa_type=Text)
    description: str = Field(sa_type=Text)
    severity: int
    status: str = Field(sa_type=String)
    commander: str | None = Field(sa_type=String)
    declared_by: str | None = Field(sa_type=String)
    declared_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(sa_type=UTCDateTime)
    summary: str = Field(sa_type=Text)
    roles: dict[str, str] = Field(sa_type=JSON)
    channel_id: str | None = Field(sa_type=String)
    channel_name: str | None = Field(sa_type=String)
    card_ts: str | None = Field(sa_type=String)
    announcement_ts: str | None = Field(sa_type=String)
    idempotency_key: str | None = Field(sa_type=String)
    source_group_key: str | None = Field(default=None, sa_type=Text)
    service: str | None = Field(default=None, sa_type=String)
    drill: bool = False
    # Metrics (migration 0008): durations from the explicit event times above, the target due times the
    # metrics capability sets, and the impact window a postmortem may record (else declared → resolved).
    ack_seconds: float | None = None
    resolve_seconds: float | None = None
    response_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    impact_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    impact_ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revision: int


INCIDENTS: Table = IncidentRow.__table__  # type: ignore[attr-defined]


def row_values(incident: Incident) -> dict[str, Any]:
    """The columns `save` writes: all but number, idempotency_key and revision."""
    return {
        "title": incident.title,
        "description": incident.description,
        "severity": int(incident.severity),
        "status": incident.status.value,
        "commander": incident.commander,
        "declared_by": incident.declared_by,
        "declared_at": utc(incident.declared_at),
        "acknowledged_at": None if incident.acknowledged_at is None else utc(incident.acknowledged_at),
        "resolved_at": None if incident.resolved_at is None else utc(incident.resolved_at),
        "summary": incident.summary,
        "roles": dict(incident.roles),
        "channel_id": incident.channel_id,
        "channel_name": incident.channel_name,
        "card_ts": incident.card_ts,
        "announcement_ts": incident.announcement_ts,
        "source_group_key": incident.source_group_key,
        "service": incident.service,
        "drill": incident.drill,
        "ack_seconds": _seconds(incident.declared_at, incident.acknowledged_at),
        "resolve_seconds": _seconds(incident.declared_at, incident.resolved_at),
    }


def _seconds(start: datetime, end: datetime | None) -> float | None:
    """A duration between two explicit event times, kept beside them so aggregates need no date arithmetic."""
    return None if end is None else (end - start).total_seconds()


def incident_of(row: IncidentRow | Row[Any]) -> Incident:
    return Incident(
        number=row.number,
        title=row.title,
        severity=Severity(row.severity),
        status=Status(row.status),
        declared_by=row.declared_by,
        declared_at=row.declared_at,
        description=row.description,
        commander=row.commander,
        roles=dict(row.roles),
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        summary=row.summary,
        channel_id=row.channel_id,
        channel_name=row.channel_name,
        card_ts=row.card_ts,
        announcement_ts=row.announcement_ts,
        source_group_key=row.source_group_key,
        service=row.service,
        drill=row.drill,
        revision=row.revision,
    )
