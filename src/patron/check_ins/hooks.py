"""Check-ins in other domains' work: a merge gives the survivor the union of both members'
days (where both checked in the same day the survivor's row stays theirs, the source's stays
with the source, nothing is deleted: the points it gave are in the ledger, which the points
merge moves); erasure keeps the rows (what they gave is financial history, and a row holds no
personal data); the PIPL export lists them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.check_ins.models import CheckIn
from patron.members import merge as member_merge
from patron.members import privacy
from patron.members.models import Member


@member_merge.on_merge.register("check_ins")
def _merge_check_ins(session: Session, source: Member, target: Member) -> None:
    taken = select(CheckIn.business_day).where(CheckIn.member_id == target.id)
    session.execute(
        update(CheckIn)
        .where(CheckIn.member_id == source.id, CheckIn.business_day.not_in(taken))
        .values(member_id=target.id)
        .execution_options(synchronize_session=False)
    )


@privacy.export_sections.register("check_ins")
def _export(session: Session, member: Member) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(CheckIn).where(CheckIn.member_id == member.id).order_by(CheckIn.business_day)
    )
    return [
        {
            "business_day": row.business_day.isoformat(),
            "streak": row.streak,
            "points": row.points,
            "bonus": row.bonus,
            "checked_in_at": row.checked_in_at.isoformat(),
        }
        for row in rows
    ]
