"""on PostgreSQL campaign_members keeps half of each page free, so that marking a member treated
updates the row in place (a heap-only tuple: no new entry in any of its three indexes)

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-29 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE campaign_members SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE campaign_members RESET (fillfactor)")
