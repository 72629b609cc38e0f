"""Profiles, tags and segments

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 15:47:24.224907
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clv_fits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("time_unit", sa.String(length=8), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("spend_params", sa.JSON(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clv_fits")),
    )
    op.create_table(
        "member_profiles",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("first_purchase_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_purchase_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("orders_lifetime", sa.Integer(), nullable=False),
        sa.Column("monetary_lifetime", sa.Integer(), nullable=False),
        sa.Column("orders_window", sa.Integer(), nullable=False),
        sa.Column("monetary_window", sa.Integer(), nullable=False),
        sa.Column("aov", sa.Integer(), nullable=False),
        sa.Column("purchase_days", sa.Integer(), nullable=False),
        sa.Column("rfm_r", sa.Integer(), nullable=True),
        sa.Column("rfm_f", sa.Integer(), nullable=True),
        sa.Column("rfm_m", sa.Integer(), nullable=True),
        sa.Column("rfm_class", sa.String(length=24), nullable=True),
        sa.Column("lifecycle", sa.String(length=16), nullable=False),
        sa.Column("p_alive", sa.Float(), nullable=True),
        sa.Column("expected_purchases_365", sa.Float(), nullable=True),
        sa.Column("clv_365", sa.Integer(), nullable=True),
        sa.Column("preferred_stores", sa.JSON(), nullable=False),
        sa.Column("preferred_channels", sa.JSON(), nullable=False),
        sa.Column("preferred_categories", sa.JSON(), nullable=False),
        sa.Column("preferred_weekday", sa.Integer(), nullable=True),
        sa.Column("preferred_hour", sa.Integer(), nullable=True),
        sa.Column("similar_categories", sa.JSON(), nullable=False),
        sa.Column("facts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_profiles")),
    )
    with op.batch_alter_table("member_profiles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_profiles_last_purchase_at"), ["last_purchase_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_member_profiles_lifecycle"), ["lifecycle"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_member_profiles_rfm_class"), ["rfm_class"], unique=False
        )

    op.create_table(
        "profile_watermarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_watermarks")),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "segment_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_segment_counts_segment_id_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_counts")),
    )
    with op.batch_alter_table("segment_counts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_segment_counts_segment_counted", ["segment_id", "counted_at"], unique=False
        )

    op.create_table(
        "member_tags",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_tags_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_member_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", "tag_id", name=op.f("pk_member_tags")),
    )
    with op.batch_alter_table("member_tags", schema=None) as batch_op:
        batch_op.create_index("ix_member_tags_tag_member", ["tag_id", "member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("member_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_member_tags_tag_member")

    op.drop_table("member_tags")
    with op.batch_alter_table("segment_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_counts_segment_counted")

    op.drop_table("segment_counts")
    op.drop_table("tags")
    op.drop_table("segments")
    op.drop_table("profile_watermarks")
    with op.batch_alter_table("member_profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_profiles_rfm_class"))
        batch_op.drop_index(batch_op.f("ix_member_profiles_lifecycle"))
        batch_op.drop_index(batch_op.f("ix_member_profiles_last_purchase_at"))

    op.drop_table("member_profiles")
    op.drop_table("clv_fits")
