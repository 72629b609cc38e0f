from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from patron.core import clock
from patron.core.db import Base


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the key, kept to recognise it in lists; the key itself is not stored.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    all_stores: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    revoked_at: Mapped[datetime | None]

    scopes: Mapped[list[ApiKeyStoreScope]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ApiKeyStoreScope.store_id"
    )

    @property
    def store_ids(self) -> list[int]:
        return [scope.store_id for scope in self.scopes]


class ApiKeyStoreScope(Base):
    __tablename__ = "api_key_store_scopes"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True, index=True)
