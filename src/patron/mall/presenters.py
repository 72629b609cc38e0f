"""Items and redemptions as the API answers them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.mall.items import ways
from patron.mall.models import MallItem, MallRedemption
from patron.mall.redemption import Offer
from patron.mall.schemas import ItemOut, MemberItemOut, RedemptionOut, Way


def item_out(item: MallItem) -> ItemOut:
    return ItemOut(
        id=item.id,
        kind=item.kind,  # type: ignore[arg-type]
        name=item.name,
        name_en=item.name_en,
        description=item.description,
        points_price=item.points_price,
        cash_price=item.cash_price,
        coupon_template_id=item.coupon_template_id,
        count_card_product_id=item.count_card_product_id,
        fulfilment=[Way(w) for w in ways(item)],
        stock=item.stock,
        redeemed_count=item.redeemed_count,
        per_member_limit=item.per_member_limit,
        valid_from=item.valid_from,
        valid_until=item.valid_until,
        min_tier_id=item.min_tier_id,
        active=item.active,
    )


def member_item_out(offer: Offer) -> MemberItemOut:
    return MemberItemOut(
        **item_out(offer.item).model_dump(),
        affordable=offer.points_cover,
        remaining_for_member=offer.remaining,
    )


def item_names(
    session: Session, item_ids: Sequence[int], *, english: bool = False
) -> dict[int, str]:
    """The items' names; with `english`, their English names where they have one."""
    rows = session.execute(
        select(MallItem.id, MallItem.name, MallItem.name_en).where(
            MallItem.id.in_(sorted(set(item_ids)))
        )
    )
    return {item_id: (name_en if english and name_en else name) for item_id, name, name_en in rows}


def redemption_out(redemption: MallRedemption, item_name: str) -> RedemptionOut:
    r = redemption
    return RedemptionOut(
        id=r.id,
        item_id=r.item_id,
        item_name=item_name,
        member_id=r.member_id,
        quantity=r.quantity,
        points=r.points,
        cash=r.cash,
        status=r.status,  # type: ignore[arg-type]
        fulfilment=r.fulfilment,
        store_id=r.store_id,
        recipient_name=r.recipient_name,
        recipient_mobile=r.recipient_mobile,
        address=r.address,
        tracking=r.tracking,
        coupon_id=r.coupon_id,
        count_card_id=r.count_card_id,
        channel=r.channel,
        handled_by=r.handled_by,
        cancel_reason=r.cancel_reason,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def redemptions_out(session: Session, found: Sequence[MallRedemption]) -> list[RedemptionOut]:
    names = item_names(session, [r.item_id for r in found])
    return [redemption_out(r, names.get(r.item_id, "")) for r in found]
