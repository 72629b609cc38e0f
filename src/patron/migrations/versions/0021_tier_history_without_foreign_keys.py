"""tier history without foreign keys: each row copies a change of a member_tiers row (checked by
that row's own foreign keys in the same transaction), and neither members nor tiers are deleted;
the per-row checks were most of the tier review's cost

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-28 19:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEYS = (
    ("fk_tier_changes_from_tier_id_tiers", "tiers", "from_tier_id"),
    ("fk_tier_changes_member_id_members", "members", "member_id"),
    ("fk_tier_changes_to_tier_id_tiers", "tiers", "to_tier_id"),
)


def upgrade() -> None:
    with op.batch_alter_table("tier_changes", schema=None) as batch_op:
        for name, _, _ in FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("tier_changes", schema=None) as batch_op:
        for name, table, column in FOREIGN_KEYS:
            batch_op.create_foreign_key(name, table, [column], ["id"])
