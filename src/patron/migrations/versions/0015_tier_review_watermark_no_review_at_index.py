"""tier review watermark: the program's reviewed_through; no index on member_tiers.review_at
nor member_tiers.tier_id (stayers are no longer rewritten by the review, the review scans the
table, and a tier change pays for no index entry of these); on PostgreSQL member_tiers keeps a
quarter of each page free for updates in place (pages written from now on)

A downgrade leaves review_at at the first review of each member's held tier: the older review
job then reviews once more those whose first review has passed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 09:14:29.872552
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member_tiers", schema=None) as batch_op:
        batch_op.drop_index("ix_member_tiers_review")
        batch_op.drop_index("ix_member_tiers_tier")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE member_tiers SET (fillfactor = 75)")

    with op.batch_alter_table("tier_program", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reviewed_through", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE member_tiers RESET (fillfactor)")
    with op.batch_alter_table("tier_program", schema=None) as batch_op:
        batch_op.drop_column("reviewed_through")

    with op.batch_alter_table("member_tiers", schema=None) as batch_op:
        batch_op.create_index("ix_member_tiers_tier", ["tier_id"], unique=False)
        batch_op.create_index("ix_member_tiers_review", ["review_at"], unique=False)
