"""coupons: templates, the coupons members hold, their history and expiry notices

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 02:43:19.344262
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("percent_off", sa.Integer(), nullable=True),
        sa.Column("max_discount", sa.Integer(), nullable=True),
        sa.Column("gift_sku", sa.String(length=64), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("total_stock", sa.Integer(), nullable=True),
        sa.Column("issued_count", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("per_day_limit", sa.Integer(), nullable=True),
        sa.Column("stacks_with_tier_discount", sa.Boolean(), nullable=False),
        sa.Column("stacks_with_points", sa.Boolean(), nullable=False),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        sa.Column("transferable", sa.Boolean(), nullable=False),
        sa.Column("return_on_refund", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "total_stock IS NULL OR issued_count <= total_stock",
            name=op.f("ck_coupon_templates_issued_within_stock"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_templates")),
    )
    op.create_table(
        "coupons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issue_day", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("discount", sa.Integer(), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_store_id", sa.Integer(), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "discount IS NULL OR discount >= 0", name=op.f("ck_coupons_discount_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_coupons_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_coupons_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_store_id"], ["stores.id"], name=op.f("fk_coupons_redeemed_store_id_stores")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_coupons_store_id_stores")
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_coupons_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_coupons_code")),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_coupons_due",
            ["valid_until"],
            unique=False,
            postgresql_where=sa.text("status = 'available'"),
            sqlite_where=sa.text("status = 'available'"),
        )
        batch_op.create_index(
            "ix_coupons_member_template", ["member_id", "template_id", "issue_day"], unique=False
        )
        batch_op.create_index(
            "ix_coupons_order",
            ["order_id"],
            unique=False,
            postgresql_where=sa.text("order_id IS NOT NULL"),
            sqlite_where=sa.text("order_id IS NOT NULL"),
        )

    op.create_table(
        "coupon_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coupon_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_member_id", sa.Integer(), nullable=True),
        sa.Column("to_member_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_events_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["from_member_id"], ["members.id"], name=op.f("fk_coupon_events_from_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_coupon_events_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_coupon_events_refund_id_refunds")
        ),
        sa.ForeignKeyConstraint(
            ["to_member_id"], ["members.id"], name=op.f("fk_coupon_events_to_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_events")),
    )
    with op.batch_alter_table("coupon_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coupon_events_coupon_id"), ["coupon_id"], unique=False)
        batch_op.create_index(
            "ix_coupon_events_given",
            ["from_member_id"],
            unique=False,
            postgresql_where=sa.text("kind = 'transfer'"),
            sqlite_where=sa.text("kind = 'transfer'"),
        )
        batch_op.create_index(
            "ix_coupon_events_received",
            ["to_member_id"],
            unique=False,
            postgresql_where=sa.text("kind = 'transfer'"),
            sqlite_where=sa.text("kind = 'transfer'"),
        )

    op.create_table(
        "coupon_expiry_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coupon_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_expiry_notices_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_coupon_expiry_notices_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_expiry_notices")),
        sa.UniqueConstraint("coupon_id", name=op.f("uq_coupon_expiry_notices_coupon_id")),
    )
    with op.batch_alter_table("coupon_expiry_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_expiry_notices_member_id"), ["member_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("coupon_expiry_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_expiry_notices_member_id"))

    op.drop_table("coupon_expiry_notices")
    with op.batch_alter_table("coupon_events", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_events_received")
        batch_op.drop_index("ix_coupon_events_given")
        batch_op.drop_index(batch_op.f("ix_coupon_events_coupon_id"))

    op.drop_table("coupon_events")
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index("ix_coupons_order")
        batch_op.drop_index("ix_coupons_member_template")
        batch_op.drop_index(
            "ix_coupons_due",
            postgresql_where=sa.text("status = 'available'"),
            sqlite_where=sa.text("status = 'available'"),
        )

    op.drop_table("coupons")
    op.drop_table("coupon_templates")
