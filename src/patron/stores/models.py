from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, select
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from patron.core.db import Base, Timestamped


class StoreType(StrEnum):
    owned = "owned"  # 直营
    franchise = "franchise"  # 加盟


class StoreStatus(StrEnum):
    open = "open"
    closed = "closed"


class Region(Timestamped, Base):
    """A group of stores (区域) that HQ reports on together and a regional manager oversees.
    A store belongs to at most one region."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))

    assignments: Mapped[list[RegionStore]] = relationship(
        lazy="selectin", order_by="RegionStore.store_id", viewonly=True
    )

    @property
    def store_ids(self) -> list[int]:
        return [row.store_id for row in self.assignments]


class RegionStore(Base):
    """A store's region: at most one per store."""

    __tablename__ = "region_stores"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), index=True)


class Store(Timestamped, Base):
    __tablename__ = "stores"
    __table_args__ = (
        CheckConstraint("type IN ('owned', 'franchise')", name="type"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(50), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16), default=StoreStatus.open.value)
    # Read with the store in its own SELECT (a primary-key lookup), not a query of its own.
    region_id: Mapped[int | None] = column_property(
        select(RegionStore.region_id).where(RegionStore.store_id == id).scalar_subquery()
    )
