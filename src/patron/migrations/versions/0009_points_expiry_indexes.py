"""points expiry indexes: due and pending lots only, so expiring or releasing a lot takes it
out of them instead of writing a new entry

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-28 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = {
    "ix_points_lots_due": ("expires_at", "status = 'available'"),
    "ix_points_lots_release": ("release_at", "status = 'pending'"),
}


def upgrade() -> None:
    for name, (column, where) in PARTIAL.items():
        op.drop_index(name, table_name="points_lots")
        op.create_index(
            name,
            "points_lots",
            [column],
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )


def downgrade() -> None:
    for name, (column, _) in PARTIAL.items():
        op.drop_index(name, table_name="points_lots")
        op.create_index(name, "points_lots", ["status", column])
