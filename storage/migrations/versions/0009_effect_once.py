"""Slack effects may carry a once-token: the same token under the same queue key is queued only once; old
effects are pruned by when they were created.

A retried step (a redelivered alert notification, a page taken over from a dead process) queues its Slack
work again; the token makes that a no-op instead of a second post.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("slack_effects") as table:
        table.add_column(sa.Column("once", sa.String(), nullable=True))
    op.create_index("ix_slack_effects_once", "slack_effects", ["key", "once"], unique=True)
    op.create_index("ix_slack_effects_created", "slack_effects", ["status", "created_at"])  # pruning


def downgrade() -> None:
    op.drop_index("ix_slack_effects_created", "slack_effects")
    op.drop_index("ix_slack_effects_once", "slack_effects")
    with op.batch_alter_table("slack_effects") as table:
        table.drop_column("once")
