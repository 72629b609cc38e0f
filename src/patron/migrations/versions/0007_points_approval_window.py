"""points approval window: a requester's adjustments within it count together

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("points_policy", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approval_window_hours", sa.Integer(), server_default="24", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("points_policy", schema=None) as batch_op:
        batch_op.drop_column("approval_window_hours")
