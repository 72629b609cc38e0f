"""Ladders, orders and refunds for the tier tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.actor import SYSTEM
from patron.members.models import Member
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate, RefundCreate
from patron.stores.models import Store
from patron.tiers import ladder, program
from patron.tiers.models import GrowthEntry, MemberTier, Tier

# code, rank, entry, retention
FOUR = (
    ("normal", 0, 0, 0),
    ("silver", 1, 1000, 800),
    ("gold", 2, 5000, 4000),
    ("diamond", 3, 20000, 15000),
)
NAMES = {"normal": "普通", "silver": "银卡", "gold": "金卡", "diamond": "钻石"}


def make_ladder(
    session: Session, rungs: tuple[tuple[str, int, int, int], ...] = FOUR
) -> list[Tier]:
    return [
        ladder.save_tier(
            session,
            SYSTEM,
            {
                "code": code,
                "name": NAMES.get(code, code),
                "name_en": code.title(),
                "rank": rank,
                "entry_threshold": entry,
                "retention_threshold": retention,
            },
        )
        for code, rank, entry, retention in rungs
    ]


def set_program(session: Session, **values: Any) -> None:
    settings = {name: getattr(program.Program(), name) for name in program.FIELDS} | values
    program.save_program(session, SYSTEM, settings)


def order(
    session: Session,
    store: Store,
    member: Member | int | None,
    fen: int,
    at: datetime,
    payments: list[dict[str, Any]] | None = None,
    quantity: int = 1,
) -> orders.TakenOrder:
    """An order of one line of `quantity` items paying `fen` in all (quantity divides fen)."""
    body = {
        "external_id": f"T-{at.timestamp()}-{fen}-{id(payments)}-{_next()}",
        "store_id": store.id,
        "channel": "pos",
        "member_id": member.id if isinstance(member, Member) else member,
        "occurred_at": at.isoformat(),
        "items": [
            {
                "sku": "SKU-T",
                "name": "商品",
                "quantity": quantity,
                "unit_price": fen // quantity,
                "paid": fen,
            }
        ],
        "payments": payments or [{"method": "wechat_pay", "amount": fen}],
    }
    return orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))


_seq = [0]


def _next() -> int:
    _seq[0] += 1
    return _seq[0]


def refund(session: Session, order_id: int, quantity: int | None = None) -> None:
    if quantity is None:
        data = RefundCreate(all=True)
    else:
        line = orders.lines_of(session, order_id)[0]
        data = RefundCreate.model_validate({"items": [{"line_id": line.id, "quantity": quantity}]})
    orders.refund_order(session, SYSTEM, order_id, data)


def ledger_sum(session: Session, member_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(GrowthEntry.growth), 0)).where(
            GrowthEntry.member_id == member_id
        )
    )
    return int(total or 0)


def cached(session: Session, member_id: int) -> MemberTier | None:
    session.expire_all()
    return session.get(MemberTier, member_id)
