"""Tags on members: manual (staff add and remove them), imported (from a file), and rule tags
(a segment rule, recomputed on schedule)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.core import clock
from patron.core.db import Base, Timestamped


class TagKind(StrEnum):
    manual = "manual"
    imported = "imported"
    rule = "rule"


class Tag(Timestamped, Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default=TagKind.manual.value)
    description: Mapped[str] = mapped_column(String(200), default="")
    rule: Mapped[str | None] = mapped_column(Text)  # rule tags: a segment rule
    refreshed_at: Mapped[datetime | None]  # rule tags: when the rule was last applied
    member_count: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class MemberTag(Base):
    __tablename__ = "member_tags"
    __table_args__ = (Index("ix_member_tags_tag_member", "tag_id", "member_id"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # manual | import | rule
    added_by: Mapped[str] = mapped_column(String(100), default="")
    added_at: Mapped[datetime] = mapped_column(default=clock.now)
