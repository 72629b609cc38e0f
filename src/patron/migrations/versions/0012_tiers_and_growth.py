"""tiers and growth value: the program, the ladder, members' tiers, the growth ledger, the tier
history and paid membership; members' staff flag and orders' tier discount

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 05:52:44.595101
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tier_program",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("evaluation", sa.String(length=16), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("downgrade", sa.String(length=16), nullable=False),
        sa.Column("growth_per_yuan", sa.Integer(), nullable=False),
        sa.Column("action_growth", sa.JSON(), nullable=False),
        sa.Column("staff_discount", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_program")),
    )
    op.create_table(
        "tiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("name_en", sa.String(length=50), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("entry_threshold", sa.Integer(), nullable=False),
        sa.Column("retention_threshold", sa.Integer(), nullable=False),
        sa.Column("discount_percent", sa.Integer(), nullable=False),
        sa.Column("points_factor", sa.Integer(), nullable=False),
        sa.Column("upgrade_gift", sa.JSON(), nullable=False),
        sa.Column("birthday_gift", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "discount_percent >= 0 AND discount_percent < 100",
            name=op.f("ck_tiers_discount_percent_range"),
        ),
        sa.CheckConstraint(
            "entry_threshold >= 0", name=op.f("ck_tiers_entry_threshold_not_negative")
        ),
        sa.CheckConstraint(
            "points_factor >= 100", name=op.f("ck_tiers_points_factor_at_least_one")
        ),
        sa.CheckConstraint("rank >= 0", name=op.f("ck_tiers_rank_not_negative")),
        sa.CheckConstraint(
            "retention_threshold >= 0 AND retention_threshold <= entry_threshold",
            name=op.f("ck_tiers_retention_within_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tiers")),
        sa.UniqueConstraint("code", name=op.f("uq_tiers_code")),
        sa.UniqueConstraint("rank", name=op.f("uq_tiers_rank")),
    )
    op.create_table(
        "paid_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("term", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=True),
        sa.Column("benefits", sa.JSON(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price >= 0", name=op.f("ck_paid_plans_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["tiers.id"], name=op.f("fk_paid_plans_tier_id_tiers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paid_plans")),
    )
    op.create_table(
        "member_tiers",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("tier_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_tier_id", sa.Integer(), nullable=True),
        sa.Column("paid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("growth", sa.Integer(), nullable=False),
        sa.Column("birthday_gift_year", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_tiers_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["paid_tier_id"], ["tiers.id"], name=op.f("fk_member_tiers_paid_tier_id_tiers")
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["tiers.id"], name=op.f("fk_member_tiers_tier_id_tiers")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_tiers")),
    )
    with op.batch_alter_table("member_tiers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_member_tiers_paid_until",
            ["paid_until"],
            unique=False,
            postgresql_where=sa.text("paid_until IS NOT NULL"),
            sqlite_where=sa.text("paid_until IS NOT NULL"),
        )
        batch_op.create_index("ix_member_tiers_review", ["review_at"], unique=False)
        batch_op.create_index("ix_member_tiers_tier", ["tier_id"], unique=False)

    op.create_table(
        "paid_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("payment_reference", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lapsed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_paid_memberships_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["paid_plans.id"], name=op.f("fk_paid_memberships_plan_id_paid_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paid_memberships")),
    )
    with op.batch_alter_table("paid_memberships", schema=None) as batch_op:
        batch_op.create_index(
            "ix_paid_memberships_due",
            ["ends_at"],
            unique=False,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.create_index("ix_paid_memberships_member", ["member_id", "ends_at"], unique=False)

    op.create_table(
        "tier_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("from_tier_id", sa.Integer(), nullable=True),
        sa.Column("to_tier_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("qualifying_growth", sa.Integer(), nullable=True),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_tier_id"], ["tiers.id"], name=op.f("fk_tier_changes_from_tier_id_tiers")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_tier_changes_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["to_tier_id"], ["tiers.id"], name=op.f("fk_tier_changes_to_tier_id_tiers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_changes")),
    )
    with op.batch_alter_table("tier_changes", schema=None) as batch_op:
        batch_op.create_index("ix_tier_changes_created", ["created_at"], unique=False)
        batch_op.create_index("ix_tier_changes_member", ["member_id", "id"], unique=False)

    op.create_table(
        "growth_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("growth", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("merge_partner_id", sa.Integer(), nullable=True),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_growth_entries_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["merge_partner_id"],
            ["members.id"],
            name=op.f("fk_growth_entries_merge_partner_id_members"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_growth_entries_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_growth_entries_refund_id_refunds")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_growth_entries_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_growth_entries")),
    )
    with op.batch_alter_table("growth_entries", schema=None) as batch_op:
        batch_op.create_index("ix_growth_entries_member", ["member_id", "id"], unique=False)
        batch_op.create_index(
            "ix_growth_entries_member_occurred", ["member_id", "occurred_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_growth_entries_order_id"), ["order_id"], unique=False)

    op.add_column(
        "members", sa.Column("is_staff", sa.Boolean(), server_default=sa.false(), nullable=False)
    )

    _add_order_tier_columns()


def _add_order_tier_columns() -> None:
    """In place, not by a batch copy of the orders table: SQLite adds a column with a named
    reference and no default by ALTER TABLE, which alembic only offers through a copy."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE orders ADD COLUMN tier_id INTEGER "
            "CONSTRAINT fk_orders_tier_id_tiers REFERENCES tiers (id)"
        )
    else:
        op.add_column("orders", sa.Column("tier_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_orders_tier_id_tiers"), "orders", "tiers", ["tier_id"], ["id"]
        )
    op.add_column(
        "orders",
        sa.Column("tier_discount_amount", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_orders_tier_id_tiers"), "orders", type_="foreignkey")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("tier_discount_amount")
        batch_op.drop_column("tier_id")

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("is_staff")

    with op.batch_alter_table("growth_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_growth_entries_order_id"))
        batch_op.drop_index("ix_growth_entries_member_occurred")
        batch_op.drop_index("ix_growth_entries_member")

    op.drop_table("growth_entries")
    with op.batch_alter_table("tier_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_tier_changes_member")
        batch_op.drop_index("ix_tier_changes_created")

    op.drop_table("tier_changes")
    with op.batch_alter_table("paid_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_paid_memberships_member")
        batch_op.drop_index(
            "ix_paid_memberships_due",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )

    op.drop_table("paid_memberships")
    with op.batch_alter_table("member_tiers", schema=None) as batch_op:
        batch_op.drop_index("ix_member_tiers_tier")
        batch_op.drop_index("ix_member_tiers_review")
        batch_op.drop_index(
            "ix_member_tiers_paid_until",
            postgresql_where=sa.text("paid_until IS NOT NULL"),
            sqlite_where=sa.text("paid_until IS NOT NULL"),
        )

    op.drop_table("member_tiers")
    op.drop_table("paid_plans")
    op.drop_table("tiers")
    op.drop_table("tier_program")
