from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from patron.core.db import Base, Timestamped


class StaffUser(Timestamped, Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    all_stores: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # Bumped on password reset or deactivation: every token issued before stops working.
    token_version: Mapped[int] = mapped_column(Integer, default=1)

    scopes: Mapped[list[StaffStoreScope]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="StaffStoreScope.store_id"
    )

    # Loaded when asked for (only a regional manager has any), not with every user.
    region_scopes: Mapped[list[StaffRegionScope]] = relationship(
        cascade="all, delete-orphan", order_by="StaffRegionScope.region_id"
    )

    @property
    def store_ids(self) -> list[int]:
        return [scope.store_id for scope in self.scopes]

    @property
    def region_ids(self) -> list[int]:
        return [scope.region_id for scope in self.region_scopes]


class StaffStoreScope(Base):
    __tablename__ = "staff_store_scopes"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True, index=True)


class StaffRegionScope(Base):
    """A regional manager's regions: they see the stores of these regions, as they are now."""

    __tablename__ = "staff_region_scopes"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), primary_key=True, index=True)


class RevokedToken(Base):
    """A signed-out staff token, refused until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(index=True)
