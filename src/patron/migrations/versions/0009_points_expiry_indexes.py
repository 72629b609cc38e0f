"""points expiry indexes: partial, so that expiring or releasing a lot writes few index entries

The due and pending lots only (both databases), and on PostgreSQL the member's live lots only.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name: (columns before, columns after, condition, on SQLite too)
INDEXES = {
    "ix_points_lots_due": (["status", "expires_at"], ["expires_at"], "status = 'available'", True),
    "ix_points_lots_release": (
        ["status", "release_at"],
        ["release_at"],
        "status = 'pending'",
        True,
    ),
    "ix_points_lots_member_status": (
        ["member_id", "status", "expires_at"],
        ["member_id", "status", "expires_at"],
        "status IN ('available', 'pending')",
        False,
    ),
}


def upgrade() -> None:
    for name, (_, columns, where, sqlite_too) in INDEXES.items():
        op.drop_index(name, table_name="points_lots")
        op.create_index(
            name,
            "points_lots",
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where) if sqlite_too else None,
        )


def downgrade() -> None:
    for name, (columns, _, _, _) in INDEXES.items():
        op.drop_index(name, table_name="points_lots")
        op.create_index(name, "points_lots", columns)
