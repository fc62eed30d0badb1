"""SQL is the record: timeline entries are kept (marked moved, with their once-token), escalations are stored,
and Slack work after the reply is queued until done.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("timeline_outbox") as batch:
        batch.add_column(sa.Column("moved", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("once", sa.String(), nullable=True))
    op.create_index("ix_timeline_outbox_once", "timeline_outbox", ["number", "once"], unique=True)
    op.create_index("ix_timeline_outbox_moved", "timeline_outbox", ["moved"])
    op.create_table(
        "pages",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("timer", sa.Text(), nullable=True),
    )
    op.create_index("ix_pages_number", "pages", ["number"])
    op.create_index("ix_pages_status", "pages", ["status"])
    op.create_table(
        "slack_effects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_slack_effects_due", "slack_effects", ["status", "not_before"])


def downgrade() -> None:
    op.drop_table("slack_effects")
    op.drop_table("pages")
    op.drop_index("ix_timeline_outbox_moved", "timeline_outbox")
    op.drop_index("ix_timeline_outbox_once", "timeline_outbox")
    with op.batch_alter_table("timeline_outbox") as batch:
        batch.drop_column("once")
        batch.drop_column("moved")
