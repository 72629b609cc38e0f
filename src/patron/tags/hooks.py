"""Tags in other domains' work: a merge moves the merged member's tags to the survivor (a tag
both have stays the survivor's), erasure removes the member's tags, the PIPL export lists them,
and the member timeline shows tags added and removed by hand, in bulk or from a file (a rule
tag's refreshes are not a member's events)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.members import merge as member_merge
from patron.members import privacy, timeline
from patron.members.models import Member
from patron.tags import service


@member_merge.on_merge.register("tags")
def _merge_tags(session: Session, source: Member, target: Member) -> None:
    service.move_tags(session, source.id, target.id)


@privacy.on_erase.register("tags")
def _erase_tags(session: Session, member: Member) -> None:
    service.erase_tags(session, member.id)


@privacy.export_sections.register("tags")
def _export_tags(session: Session, member: Member) -> list[dict[str, Any]]:
    return service.export_rows(session, member.id)


@timeline.timeline_sources.register("tags")
def _tag_events(session: Session, member: Member) -> list[timeline.TimelineEvent]:
    return [
        timeline.TimelineEvent(at, "tag", action.removeprefix("tag."), data)
        for at, action, data in service.tag_changes(session, member.id)
    ]
