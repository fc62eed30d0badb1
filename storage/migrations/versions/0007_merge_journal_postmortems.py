"""Join the two branches from 0004: 0005 (journal, pages, Slack effects) and 0006 (postmortems).

0006 was merged first with 0004 as its parent; a database that already has it gets 0005 now, one that has
0005 gets 0006, and both end here.

Revision ID: 0007
Revises: 0005, 0006
"""

revision = "0007"
down_revision: tuple[str, str] = ("0005", "0006")
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
