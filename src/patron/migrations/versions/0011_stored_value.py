"""stored value: accounts of principal and bonus, their ledger, recharges, recharge packages
and count cards

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 04:11:31.907984
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "count_card_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("service", sa.String(length=100), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("uses > 0", name=op.f("ck_count_card_products_uses_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_count_card_products")),
    )
    op.create_table(
        "recharge_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("pay", sa.Integer(), nullable=False),
        sa.Column("bonus", sa.Integer(), nullable=False),
        sa.Column("coupons", sa.JSON(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("count_cards", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("bonus >= 0", name=op.f("ck_recharge_packages_bonus_not_negative")),
        sa.CheckConstraint("pay > 0", name=op.f("ck_recharge_packages_pay_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recharge_packages")),
    )
    op.create_table(
        "stored_value_accounts",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("principal", sa.Integer(), nullable=False),
        sa.Column("bonus", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("failed_verifications", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("bonus >= 0", name=op.f("ck_stored_value_accounts_bonus_not_negative")),
        sa.CheckConstraint(
            "principal >= 0", name=op.f("ck_stored_value_accounts_principal_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_stored_value_accounts_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_stored_value_accounts")),
    )
    op.create_table(
        "stored_value_recharges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("package_id", sa.Integer(), nullable=True),
        sa.Column("principal", sa.Integer(), nullable=False),
        sa.Column("bonus", sa.Integer(), nullable=False),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("payment_reference", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("real_name", sa.String(length=400), nullable=True),
        sa.Column("id_number", sa.String(length=400), nullable=True),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("bonus >= 0", name=op.f("ck_stored_value_recharges_bonus_not_negative")),
        sa.CheckConstraint(
            "principal > 0", name=op.f("ck_stored_value_recharges_principal_positive")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_stored_value_recharges_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["recharge_packages.id"],
            name=op.f("fk_stored_value_recharges_package_id_recharge_packages"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_stored_value_recharges_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_value_recharges")),
    )
    with op.batch_alter_table("stored_value_recharges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stored_value_recharges_member", ["member_id", "created_at"], unique=False
        )

    op.create_table(
        "count_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("uses_left", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("payment_reference", sa.String(length=100), nullable=False),
        sa.Column("recharge_id", sa.Integer(), nullable=True),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("sold_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "uses_left >= 0 AND uses_left <= uses",
            name=op.f("ck_count_cards_uses_left_within_uses"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_count_cards_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["count_card_products.id"],
            name=op.f("fk_count_cards_product_id_count_card_products"),
        ),
        sa.ForeignKeyConstraint(
            ["recharge_id"],
            ["stored_value_recharges.id"],
            name=op.f("fk_count_cards_recharge_id_stored_value_recharges"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_count_cards_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_count_cards")),
    )
    with op.batch_alter_table("count_cards", schema=None) as batch_op:
        batch_op.create_index("ix_count_cards_member", ["member_id", "id"], unique=False)

    op.create_table(
        "count_card_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("staff", sa.String(length=100), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["card_id"], ["count_cards.id"], name=op.f("fk_count_card_uses_card_id_count_cards")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_count_card_uses_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_count_card_uses")),
    )
    with op.batch_alter_table("count_card_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_count_card_uses_card_id"), ["card_id"], unique=False)

    op.create_table(
        "stored_value_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("principal", sa.Integer(), nullable=False),
        sa.Column("bonus", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("recharge_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("count_card_id", sa.Integer(), nullable=True),
        sa.Column("merge_partner_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["count_card_id"],
            ["count_cards.id"],
            name=op.f("fk_stored_value_entries_count_card_id_count_cards"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_stored_value_entries_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["merge_partner_id"],
            ["members.id"],
            name=op.f("fk_stored_value_entries_merge_partner_id_members"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_stored_value_entries_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["recharge_id"],
            ["stored_value_recharges.id"],
            name=op.f("fk_stored_value_entries_recharge_id_stored_value_recharges"),
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_stored_value_entries_refund_id_refunds")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_stored_value_entries_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_value_entries")),
    )
    with op.batch_alter_table("stored_value_entries", schema=None) as batch_op:
        batch_op.create_index("ix_stored_value_entries_member", ["member_id", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_stored_value_entries_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            "ix_stored_value_entries_store_created", ["store_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stored_value_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_stored_value_entries_store_created")
        batch_op.drop_index(batch_op.f("ix_stored_value_entries_order_id"))
        batch_op.drop_index("ix_stored_value_entries_member")

    op.drop_table("stored_value_entries")
    with op.batch_alter_table("count_card_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_count_card_uses_card_id"))

    op.drop_table("count_card_uses")
    with op.batch_alter_table("count_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_count_cards_member")

    op.drop_table("count_cards")
    with op.batch_alter_table("stored_value_recharges", schema=None) as batch_op:
        batch_op.drop_index("ix_stored_value_recharges_member")

    op.drop_table("stored_value_recharges")
    op.drop_table("stored_value_accounts")
    op.drop_table("recharge_packages")
    op.drop_table("count_card_products")
