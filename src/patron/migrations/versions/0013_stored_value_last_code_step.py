"""stored value: the TOTP step of the last member code an account took, so a code pays once

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stored_value_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_code_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stored_value_accounts", schema=None) as batch_op:
        batch_op.drop_column("last_code_step")
