"""regions and daily facts

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-29 02:48:56.820175
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "facts_watermarks",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_facts_watermarks")),
    )
    op.create_table(
        "ledger_day_facts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("points_earned", sa.Integer(), server_default="0", nullable=False),
        sa.Column("points_burned", sa.Integer(), server_default="0", nullable=False),
        sa.Column("points_expired", sa.Integer(), server_default="0", nullable=False),
        sa.Column("points_adjusted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sv_recharged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sv_bonus", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sv_spent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sv_refunded", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sv_adjusted", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "store_id", name=op.f("pk_ledger_day_facts")),
    )
    op.create_table(
        "member_day_facts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("orders", sa.Integer(), server_default="0", nullable=False),
        sa.Column("net_sales", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "member_id", "store_id", "channel", name=op.f("pk_member_day_facts")
        ),
    )
    with op.batch_alter_table("member_day_facts", schema=None) as batch_op:
        batch_op.create_index("ix_member_day_facts_member_day", ["member_id", "day"], unique=False)

    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )
    op.create_table(
        "sales_day_facts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("orders", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sales", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refunded", sa.Integer(), server_default="0", nullable=False),
        sa.Column("member_orders", sa.Integer(), server_default="0", nullable=False),
        sa.Column("member_sales", sa.Integer(), server_default="0", nullable=False),
        sa.Column("member_refunded", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "store_id", "channel", name=op.f("pk_sales_day_facts")),
    )
    op.create_table(
        "region_stores",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_region_stores_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_region_stores_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_region_stores")),
    )
    with op.batch_alter_table("region_stores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_region_stores_region_id"), ["region_id"], unique=False)

    op.create_table(
        "staff_region_scopes",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_staff_region_scopes_region_id_regions")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_region_scopes_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", "region_id", name=op.f("pk_staff_region_scopes")),
    )
    with op.batch_alter_table("staff_region_scopes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_region_scopes_region_id"), ["region_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_region_scopes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_region_scopes_region_id"))

    op.drop_table("staff_region_scopes")
    with op.batch_alter_table("region_stores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_region_stores_region_id"))

    op.drop_table("region_stores")
    op.drop_table("sales_day_facts")
    op.drop_table("regions")
    with op.batch_alter_table("member_day_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_member_day_facts_member_day")

    op.drop_table("member_day_facts")
    op.drop_table("ledger_day_facts")
    op.drop_table("facts_watermarks")
