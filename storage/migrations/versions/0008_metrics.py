"""Metrics: drills, the service, durations from explicit event times, target due times, the impact window.

`impact_started_at`/`impact_ended_at` are optional inputs a postmortem may set; without them the impact
window is declared → resolved.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_METRICS_INDEX = (
    "drill", "severity", "declared_at", "service", "acknowledged_at", "resolved_at", "ack_seconds",
    "resolve_seconds", "response_due_at", "resolution_due_at", "impact_started_at", "impact_ended_at",
)  # fmt: skip
_SERVICES_INDEX = ("drill", "service", *(c for c in _METRICS_INDEX if c not in {"drill", "service"}))
_SECONDS = {
    "postgresql": "EXTRACT(EPOCH FROM ({end} - declared_at))",
    "sqlite": "(julianday({end}) - julianday(declared_at)) * 86400.0",
}


def upgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("service", sa.String(), nullable=True))
        table.add_column(sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false()))
        table.add_column(sa.Column("ack_seconds", sa.Float(), nullable=True))
        table.add_column(sa.Column("resolve_seconds", sa.Float(), nullable=True))
        for name in ("response_due_at", "resolution_due_at", "impact_started_at", "impact_ended_at"):
            table.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    seconds = _SECONDS[op.get_bind().dialect.name]
    op.execute(f"UPDATE incidents SET ack_seconds = {seconds.format(end='acknowledged_at')}")
    op.execute(f"UPDATE incidents SET resolve_seconds = {seconds.format(end='resolved_at')}")
    # covering indexes: each aggregate reads an index range and never the table
    op.create_index("ix_incidents_metrics", "incidents", list(_METRICS_INDEX))
    op.create_index("ix_incidents_services", "incidents", list(_SERVICES_INDEX))
    op.create_index(
        "ix_incidents_ack_seconds",
        "incidents",
        ["drill", "ack_seconds", "declared_at", "resolved_at", "severity", "service"],
    )
    op.create_index(
        "ix_incidents_resolve_seconds",
        "incidents",
        ["drill", "resolve_seconds", "declared_at", "resolved_at", "severity", "service"],
    )
    op.create_index("ix_incidents_open", "incidents", ["resolved_at", "drill", "severity"])


def downgrade() -> None:
    for index in (
        "ix_incidents_metrics",
        "ix_incidents_ack_seconds",
        "ix_incidents_resolve_seconds",
        "ix_incidents_open",
    ):
        op.drop_index(index, "incidents")
    with op.batch_alter_table("incidents") as table:
        for name in ("service", "drill", "ack_seconds", "resolve_seconds", "response_due_at", "resolution_due_at"):
            table.drop_column(name)
        table.drop_column("impact_started_at")
        table.drop_column("impact_ended_at")
