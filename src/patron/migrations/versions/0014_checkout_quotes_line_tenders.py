"""checkout quotes; order lines" tier discount and tenders (points, stored value); points-as-cash
caps; the months of a paid membership whose coupons went out

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 08:56:17.309305
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkout_quotes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_checkout_quotes_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_checkout_quotes_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_checkout_quotes_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_quotes")),
    )
    with op.batch_alter_table("checkout_quotes", schema=None) as batch_op:
        batch_op.create_index("ix_checkout_quotes_expires", ["expires_at"], unique=False)

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tier_discount", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("points", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("stored_value", sa.Integer(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("paid_memberships", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("coupon_months", sa.Integer(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("points_policy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_points_per_order", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("category_caps", sa.JSON(), server_default="{}", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "combine_with_coupons", sa.Boolean(), server_default=sa.true(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("points_policy", schema=None) as batch_op:
        batch_op.drop_column("combine_with_coupons")
        batch_op.drop_column("category_caps")
        batch_op.drop_column("max_points_per_order")

    with op.batch_alter_table("paid_memberships", schema=None) as batch_op:
        batch_op.drop_column("coupon_months")

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_column("stored_value")
        batch_op.drop_column("points")
        batch_op.drop_column("tier_discount")

    with op.batch_alter_table("checkout_quotes", schema=None) as batch_op:
        batch_op.drop_index("ix_checkout_quotes_expires")

    op.drop_table("checkout_quotes")
