"""points entry facts: merge partner and debt paid as columns

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 18:30:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTRIES = sa.table(
    "points_entries",
    sa.column("id", sa.Integer),
    sa.column("reason", sa.String),
    sa.column("merge_partner_id", sa.Integer),
    sa.column("debt_paid", sa.Integer),
)
# What the ledger wrote into `reason` before these facts had columns.
ADJUSTMENT = re.compile(r"^adjustment \d+: (?P<reason>.*)$", re.DOTALL)
MERGED = re.compile(r"^merged (?:into|from) member (?P<id>\d+)$")
PAID_DEBT = re.compile(r"^paid debt (?P<points>\d+)$")


def upgrade() -> None:
    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merge_partner_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("debt_paid", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_points_entries_merge_partner_id_members"),
            "members",
            ["merge_partner_id"],
            ["id"],
        )
    _backfill()


def _backfill() -> None:
    """Read the facts back from the text one last time; an adjustment's entry keeps only the
    adjustment's own reason (its id is the adjustment_id column)."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(ENTRIES.c.id, ENTRIES.c.reason).where(
            sa.or_(
                ENTRIES.c.reason.like("adjustment %"),
                ENTRIES.c.reason.like("merged % member %"),
                ENTRIES.c.reason.like("paid debt %"),
            )
        )
    )
    for entry_id, reason in rows.all():
        values = _facts(reason)
        if values:
            bind.execute(sa.update(ENTRIES).where(ENTRIES.c.id == entry_id).values(**values))


def _facts(reason: str) -> dict[str, object]:
    if match := ADJUSTMENT.match(reason):
        return {"reason": match["reason"]}
    if match := MERGED.match(reason):
        return {"merge_partner_id": int(match["id"])}
    if match := PAID_DEBT.match(reason):
        return {"debt_paid": int(match["points"])}
    return {}


def downgrade() -> None:
    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_points_entries_merge_partner_id_members"), type_="foreignkey"
        )
        batch_op.drop_column("debt_paid")
        batch_op.drop_column("merge_partner_id")
