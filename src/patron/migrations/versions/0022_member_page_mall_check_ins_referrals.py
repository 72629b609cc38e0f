"""member page, mall, check-ins, referrals

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28 22:40:09.045521
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_in_program",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("points_per_day", sa.Integer(), nullable=False),
        sa.Column("cycle_days", sa.Integer(), nullable=False),
        sa.Column("streak_bonuses", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_in_program")),
    )
    op.create_table(
        "member_sign_in_states",
        sa.Column("mobile_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("mobile_hash", name=op.f("pk_member_sign_in_states")),
    )
    op.create_table(
        "mall_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("points_price", sa.Integer(), nullable=False),
        sa.Column("cash_price", sa.Integer(), nullable=False),
        sa.Column("coupon_template_id", sa.Integer(), nullable=True),
        sa.Column("count_card_product_id", sa.Integer(), nullable=True),
        sa.Column("fulfilment", sa.String(length=32), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("redeemed_count", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("min_tier_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "per_member_limit IS NULL OR per_member_limit > 0",
            name=op.f("ck_mall_items_limit_positive"),
        ),
        sa.CheckConstraint("points_price + cash_price > 0", name=op.f("ck_mall_items_has_a_price")),
        sa.CheckConstraint(
            "points_price >= 0 AND cash_price >= 0", name=op.f("ck_mall_items_prices_not_negative")
        ),
        sa.CheckConstraint(
            "stock IS NULL OR stock >= 0", name=op.f("ck_mall_items_stock_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["count_card_product_id"],
            ["count_card_products.id"],
            name=op.f("fk_mall_items_count_card_product_id_count_card_products"),
        ),
        sa.ForeignKeyConstraint(
            ["coupon_template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_mall_items_coupon_template_id_coupon_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["min_tier_id"], ["tiers.id"], name=op.f("fk_mall_items_min_tier_id_tiers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_items")),
    )
    op.create_table(
        "referral_program",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("referrer_points", sa.Integer(), nullable=False),
        sa.Column("referrer_coupon_template_id", sa.Integer(), nullable=True),
        sa.Column("invitee_points", sa.Integer(), nullable=False),
        sa.Column("invitee_coupon_template_id", sa.Integer(), nullable=True),
        sa.Column("monthly_cap", sa.Integer(), nullable=False),
        sa.Column("reversal_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitee_coupon_template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_referral_program_invitee_coupon_template_id_coupon_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["referrer_coupon_template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_referral_program_referrer_coupon_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_program")),
    )
    op.create_table(
        "check_ins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("bonus", sa.Integer(), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_check_ins_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_ins")),
        sa.UniqueConstraint(
            "member_id", "business_day", name=op.f("uq_check_ins_member_id_business_day")
        ),
    )
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.create_index("ix_check_ins_day", ["business_day"], unique=False)

    op.create_table(
        "member_sign_ins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_sign_ins_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_sign_ins")),
    )
    with op.batch_alter_table("member_sign_ins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_sign_ins_device_hash"), ["device_hash"], unique=False
        )
        batch_op.create_index("ix_member_sign_ins_member", ["member_id", "id"], unique=False)

    op.create_table(
        "referral_codes",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_referral_codes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_referral_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_referral_codes_code")),
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=False),
        sa.Column("invitee_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invitee_id"], ["members.id"], name=op.f("fk_referrals_invitee_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_referrals_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"], ["members.id"], name=op.f("fk_referrals_referrer_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("invitee_id", name=op.f("uq_referrals_invitee_id")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index("ix_referrals_referrer", ["referrer_id", "rewarded_at"], unique=False)
        batch_op.create_index("ix_referrals_status", ["status", "id"], unique=False)

    op.create_table(
        "mall_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("cash", sa.Integer(), nullable=False),
        sa.Column("cash_reference", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fulfilment", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("recipient_name", sa.String(length=400), nullable=True),
        sa.Column("recipient_mobile", sa.String(length=400), nullable=True),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("tracking", sa.String(length=100), nullable=False),
        sa.Column("coupon_id", sa.Integer(), nullable=True),
        sa.Column("count_card_id", sa.Integer(), nullable=True),
        sa.Column("burn_entry_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("handled_by", sa.String(length=100), nullable=False),
        sa.Column("cancel_reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_mall_redemptions_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["burn_entry_id"],
            ["points_entries.id"],
            name=op.f("fk_mall_redemptions_burn_entry_id_points_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["count_card_id"],
            ["count_cards.id"],
            name=op.f("fk_mall_redemptions_count_card_id_count_cards"),
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_mall_redemptions_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["mall_items.id"], name=op.f("fk_mall_redemptions_item_id_mall_items")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mall_redemptions_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_mall_redemptions_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_redemptions")),
    )
    with op.batch_alter_table("mall_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mall_redemptions_member_item", ["member_id", "item_id"], unique=False
        )
        batch_op.create_index("ix_mall_redemptions_status", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mall_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_mall_redemptions_status")
        batch_op.drop_index("ix_mall_redemptions_member_item")

    op.drop_table("mall_redemptions")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_status")
        batch_op.drop_index("ix_referrals_referrer")

    op.drop_table("referrals")
    op.drop_table("referral_codes")
    with op.batch_alter_table("member_sign_ins", schema=None) as batch_op:
        batch_op.drop_index("ix_member_sign_ins_member")
        batch_op.drop_index(batch_op.f("ix_member_sign_ins_device_hash"))

    op.drop_table("member_sign_ins")
    with op.batch_alter_table("check_ins", schema=None) as batch_op:
        batch_op.drop_index("ix_check_ins_day")

    op.drop_table("check_ins")
    op.drop_table("referral_program")
    op.drop_table("mall_items")
    op.drop_table("member_sign_in_states")
    op.drop_table("check_in_program")
