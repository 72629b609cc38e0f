"""Demo referrals (推荐有礼) through the services: a few long-standing members invited friends who
registered later (recorded as of each friend's registration); the reward job rewards the
friends who have bought since. Two more, registered today: one still waiting for a first order
(pending), and one whose first order was paid with the referrer's own card (rejected,
`same_payment`, a self-referral)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.members import registration, registry
from patron.members.schemas import MemberCreate
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate
from patron.referrals import report, rewards, service
from patron.referrals.errors import AlreadyReferred

REFERRERS = 6
PENDING_MOBILE = "+8619900000101"
SELF_MOBILE = "+8619900000102"
SELF_CARD = "6222 **** **** 8866"
# The members the demo referrals register (the pending and the self-referring newcomer).
NEWCOMERS = 2


def load(session: Session, seed: int = 2026) -> dict[str, int]:
    """Referrals into the demo history; nothing when there are some already."""
    if _any(session):
        return {}
    rng = random.Random(seed)
    roster = sorted(registry.roster(session), key=lambda e: e.registered_at)
    if len(roster) < 10:
        return {}
    now = clock.now()
    old = roster[: len(roster) // 3]
    recent = [e for e in roster if e.registered_at > now - timedelta(days=120)]
    referrers = rng.sample(old, min(REFERRERS, len(old)))
    invitees = rng.sample(recent, min(len(recent), len(referrers) * 4))
    for n, invitee in enumerate(invitees):
        referrer = referrers[n % len(referrers)]
        with clock.frozen(invitee.registered_at + timedelta(minutes=1)):
            try:
                service.record_invite(session, invitee.id, service.code_of(session, referrer.id))
            except AlreadyReferred:
                continue
    first = referrers[0]
    store_id = first.store_id or next((e.store_id for e in roster if e.store_id), None)
    _newcomer(session, PENDING_MOBILE, "周晓", store_id, first.id)
    self_id = _newcomer(session, SELF_MOBILE, "钱程", store_id, first.id)
    if store_id is not None:
        for buyer in (first.id, self_id):
            _order(session, store_id, buyer, f"DEMO-REF-{buyer}", SELF_CARD)
    rewards.run(session, clock.now())
    return dict(Counter(status for status in _statuses(session)))


def _any(session: Session) -> bool:
    page = report.list_referrals(session, SYSTEM, None, None, 1)
    return bool(page.items)


def _statuses(session: Session) -> list[str]:
    statuses, cursor = [], None
    while True:
        page = report.list_referrals(session, SYSTEM, None, cursor, 200)
        statuses += [r.status for r in page.items]
        if page.next_cursor is None:
            return statuses
        cursor = page.next_cursor


def _newcomer(session: Session, mobile: str, name: str, store_id: int | None, referrer: int) -> int:
    member = registration.register_member(
        session, SYSTEM, MemberCreate(mobile=mobile, name=name, store_id=store_id)
    )
    service.record_invite(session, member.id, service.code_of(session, referrer))
    return member.id


def _order(session: Session, store_id: int, member_id: int, number: str, card: str) -> None:
    body = {
        "external_id": number,
        "store_id": store_id,
        "channel": "pos",
        "member_id": member_id,
        "occurred_at": clock.now().isoformat(),
        "items": [
            {
                "sku": "FOOD-01",
                "name": "坚果礼盒",
                "quantity": 1,
                "unit_price": 12800,
                "paid": 12800,
            }
        ],
        "payments": [{"method": "bank_card", "amount": 12800, "reference": card}],
    }
    orders.create_order(session, SYSTEM, OrderCreate.model_validate(body))
