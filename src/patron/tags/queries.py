"""What other domains read of tags (segment rules), without reaching into the tables."""

from __future__ import annotations

from sqlalchemy import Select, select

from patron.tags.models import MemberTag, Tag


def tagged(name: str) -> Select[int]:
    """The members carrying the tag of that name (none when no tag has it)."""
    tag_ids = select(Tag.id).where(Tag.name == name)
    return select(MemberTag.member_id).where(MemberTag.tag_id.in_(tag_ids.scalar_subquery()))
