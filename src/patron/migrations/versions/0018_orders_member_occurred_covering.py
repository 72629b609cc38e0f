"""Orders by member and time: a covering index (PostgreSQL INCLUDE) for the profiles refresh

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28 17:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCLUDED = ["total", "refunded_amount", "status", "store_id", "channel"]


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_member_occurred")
        batch_op.create_index(
            "ix_orders_member_occurred",
            ["member_id", "occurred_at"],
            unique=False,
            postgresql_include=INCLUDED,
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_member_occurred")
        batch_op.create_index(
            "ix_orders_member_occurred", ["member_id", "occurred_at"], unique=False
        )
