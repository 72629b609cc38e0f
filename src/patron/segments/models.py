"""Saved segments: a rule in the segment language, and its member count over time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, Timestamped


class Segment(Timestamped, Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    rule: Mapped[str] = mapped_column(Text)
    member_count: Mapped[int | None]  # at the last refresh
    refreshed_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100), default="")


class SegmentCount(Base):
    """The segment's member count at each refresh, for its history chart."""

    __tablename__ = "segment_counts"
    __table_args__ = (Index("ix_segment_counts_segment_counted", "segment_id", "counted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    counted_at: Mapped[datetime]
    member_count: Mapped[int]
