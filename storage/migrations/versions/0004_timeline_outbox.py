"""Timeline entries stored with the change they record, until they are in Redis.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "timeline_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sqlite_autoincrement=True,  # ids are never reused: they make the move to Redis once-only
    )
    op.create_index("ix_timeline_outbox_number", "timeline_outbox", ["number"])


def downgrade() -> None:
    op.drop_table("timeline_outbox")
