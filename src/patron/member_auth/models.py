"""Members signing in to their own page and the member API with their mobile and a one-time code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base


class SignInState(Base):
    """Per mobile (member or not, by its keyed hash): the one code out, its tries, the lock."""

    __tablename__ = "member_sign_in_states"

    mobile_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), default="")  # empty: no code out
    code_sent_at: Mapped[datetime | None]
    code_expires_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(default=0)  # wrong codes since the last success/lock
    locked_until: Mapped[datetime | None]


class SignIn(Base):
    """A member's successful sign-in, with the device and client it came from (hashed)."""

    __tablename__ = "member_sign_ins"
    __table_args__ = (Index("ix_member_sign_ins_member", "member_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    device_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    client_hash: Mapped[str] = mapped_column(String(64), default="")
    signed_in_at: Mapped[datetime] = mapped_column(default=clock.now)
