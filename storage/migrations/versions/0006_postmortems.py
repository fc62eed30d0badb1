"""Postmortems: drafts with their sections and action items, and each published revision.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "postmortems",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("whys", sa.JSON(), nullable=False),
        sa.Column("reviewers", sa.JSON(), nullable=False),
        sa.Column("approvals", sa.JSON(), nullable=False),
        sa.Column("impact_started", _TIME, nullable=True),
        sa.Column("impact_ended", _TIME, nullable=True),
        sa.Column("timeline_edits", sa.JSON(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("revisions", sa.Integer(), nullable=False),
        sa.Column("announced", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_postmortems_state", "postmortems", ["state"])
    op.create_table(
        "postmortem_sections",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("edited_by", sa.String(), nullable=True),
        sa.Column("edited_at", _TIME, nullable=True),
    )
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("ticket_url", sa.Text(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_action_items_number", "action_items", ["number"])
    op.create_index("ix_action_items_status_due", "action_items", ["status", "due"])
    op.create_table(
        "postmortem_revisions",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("revision", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("published_at", _TIME, nullable=False),
        sa.Column("published_by", sa.String(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("postmortem_revisions")
    op.drop_table("action_items")
    op.drop_table("postmortem_sections")
    op.drop_table("postmortems")
