"""What messages plug into the members domain: a member's messages follow a merge (the weekly
cap counts them for the survivor), are stripped of personal data on erasure (recipient, body,
variables; pending ones are not sent), and are listed in the PIPL export."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.members import merge as member_merge
from patron.members import privacy
from patron.members.models import Member
from patron.messages.kinds import Skip, Status
from patron.messages.models import Message


@member_merge.on_merge.register("messages")
def _merge(session: Session, source: Member, target: Member) -> None:
    session.execute(
        update(Message).where(Message.member_id == source.id).values(member_id=target.id)
    )


@privacy.on_erase.register("messages")
def _erase(session: Session, member: Member) -> None:
    pending = (Status.queued.value, Status.deferred.value)
    session.execute(
        update(Message)
        .where(Message.member_id == member.id, Message.status.in_(pending))
        .values(status=Status.skipped.value, reason=Skip.member_inactive.value)
    )
    session.execute(
        update(Message)
        .where(Message.member_id == member.id)
        .values(recipient=None, recipient_masked="", subject="", body="", variables={})
    )


@privacy.export_sections.register("messages")
def _export(session: Session, member: Member) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Message).where(Message.member_id == member.id).order_by(Message.id)
    )
    return [
        {
            "channel": m.channel,
            "template_code": m.template_code,
            "purpose": m.purpose,
            "subject": m.subject,
            "body": m.body,
            "status": m.status,
            "reason": m.reason,
            "created_at": m.created_at.isoformat(),
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
        }
        for m in rows
    ]
