"""The mall in other domains' work: a merge moves the redemptions to the survivor; erasure keeps
them (financial rows: points and cash paid) but clears the delivery address and recipient; the
PIPL export lists them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.mall.models import MallItem, MallRedemption
from patron.members import merge as member_merge
from patron.members import privacy
from patron.members.models import Member


@member_merge.on_merge.register("mall")
def _merge_redemptions(session: Session, source: Member, target: Member) -> None:
    session.execute(
        update(MallRedemption)
        .where(MallRedemption.member_id == source.id)
        .values(member_id=target.id)
        .execution_options(synchronize_session=False)
    )


@privacy.on_erase.register("mall")
def _forget_addresses(session: Session, member: Member) -> None:
    session.execute(
        update(MallRedemption)
        .where(MallRedemption.member_id == member.id)
        .values(recipient_name=None, recipient_mobile=None, address=None)
        .execution_options(synchronize_session=False)
    )


@privacy.export_sections.register("mall_redemptions")
def _export(session: Session, member: Member) -> list[dict[str, Any]]:
    rows = session.execute(
        select(MallRedemption, MallItem.name)
        .join(MallItem, MallItem.id == MallRedemption.item_id)
        .where(MallRedemption.member_id == member.id)
        .order_by(MallRedemption.id)
    ).all()
    return [
        {
            "id": r.id,
            "item": name,
            "quantity": r.quantity,
            "points": r.points,
            "cash": r.cash,
            "status": r.status,
            "fulfilment": r.fulfilment,
            "store_id": r.store_id,
            "recipient_name": r.recipient_name,
            "recipient_mobile": r.recipient_mobile,
            "address": r.address,
            "tracking": r.tracking,
            "created_at": r.created_at.isoformat(),
        }
        for r, name in rows
    ]
