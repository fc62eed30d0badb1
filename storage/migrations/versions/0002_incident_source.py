"""Incidents remember the Alertmanager group that opened them.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("source_group_key", sa.Text(), nullable=True))
    op.create_index("ix_incidents_source_group_key", "incidents", ["source_group_key"])


def downgrade() -> None:
    op.drop_index("ix_incidents_source_group_key", "incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("source_group_key")
