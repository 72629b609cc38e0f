"""Recharges after the prepaid-card rules: the balance cap, real-name details for a large
recharge, the cooling-off refund of a whole recharge (with what its package gave), and the
account refund."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.settings import get_settings
from patron.count_cards import cards as count_cards
from patron.count_cards import products as card_products
from patron.coupons import reclaiming
from patron.coupons.issuing import issue_coupons
from patron.coupons.models import IssueSource
from patron.members import merge as member_merge
from patron.points import grants
from patron.stored_value import packages
from patron.stored_value.errors import (
    BalanceCapExceeded,
    CoolingOffOver,
    NothingToRefund,
    PackageCouponsUnavailable,
    RealNameRequired,
    RechargeNotFound,
    RechargeRefunded,
    RechargeUsed,
)
from patron.stored_value.ledger import lock_accounts, post
from patron.stored_value.models import (
    EntryKind,
    Recharge,
    RechargePackage,
    RechargeStatus,
    StoredValueEntry,
)
from patron.stored_value.permissions import RECHARGE, REFUND_ACCOUNT, REFUND_RECHARGE
from patron.stores import service as stores


@dataclass(frozen=True)
class RealName:
    name: str
    id_number: str


@dataclass(frozen=True)
class Payment:
    method: str
    reference: str


def check_store(session: Session, actor: Actor, store_id: int | None) -> None:
    """The store the money moves at: one in the caller's scope; None (online, HQ) only for
    callers who see every store."""
    if not actor.sees_store(store_id):
        raise InvalidInput(
            "store_id", f"no store {store_id} in your scope", code=Reason.unknown_store
        )
    if store_id is not None:
        stores.check_ids_exist(session, [store_id], field="store_id")


def recharge(
    session: Session,
    actor: Actor,
    member_id: int,
    store_id: int | None,
    payment: Payment,
    *,
    amount: int | None = None,
    package_id: int | None = None,
    real_name: RealName | None = None,
) -> Recharge:
    """Pay in `amount` fen, or buy a package (its pay as principal, its bonus as bonus, its
    coupons issued, its count cards given at price 0, its points granted); refused with
    nothing written: 422 real_name_required from the real-name threshold up, 409
    balance_cap_exceeded when principal + bonus would pass the cap, 409 product_not_active
    when a package card's product was taken off sale, 409 package_coupons_unavailable when
    the member cannot be issued every coupon of the package (stock, per-member or per-day
    limit; the request's rollback undoes what was written)."""
    RECHARGE.check(actor)
    check_store(session, actor, store_id)
    settings = get_settings()
    package = None if package_id is None else packages.get_package(session, package_id)
    principal = package.pay if package is not None else amount
    bonus = package.bonus if package is not None else 0
    if principal is None or principal <= 0:
        raise InvalidInput("amount", "a recharge pays in at least one fen", code=Reason.too_small)
    if principal >= settings.stored_value_real_name_from and real_name is None:
        raise RealNameRequired(
            f"a recharge of {principal} fen needs real-name details",
            threshold=settings.stored_value_real_name_from,
        )
    account = lock_accounts(session, [member_id], active=True)[member_id]
    now = clock.now()
    if package is not None:
        packages.check_available(session, package, member_id, now)
    balance = account.principal + account.bonus
    if balance + principal + bonus > settings.stored_value_cap:
        raise BalanceCapExceeded(
            f"member {member_id} holds {balance} fen; the cap is {settings.stored_value_cap}",
            balance=balance,
            cap=settings.stored_value_cap,
        )
    record = Recharge(
        member_id=member_id,
        store_id=store_id,
        package_id=package_id,
        principal=principal,
        bonus=bonus,
        payment_method=payment.method,
        payment_reference=payment.reference,
        status=RechargeStatus.completed.value,
        real_name=real_name.name if real_name else None,
        id_number=real_name.id_number if real_name else None,
        operator=actor.name,
        created_at=now,
    )
    session.add(record)
    session.flush()
    common: dict[str, Any] = {
        "store_id": store_id,
        "operator": actor.name,
        "recharge_id": record.id,
    }
    post(session, account, EntryKind.recharge, principal, 0, **common)
    if bonus:
        post(session, account, EntryKind.bonus, 0, bonus, **common)
    if package is not None:
        _give_package(session, actor, package, record)
    audit.record(
        session,
        actor,
        "stored_value.recharge",
        "stored_value_recharge",
        record.id,
        store_id=store_id,
        after={
            "member_id": member_id,
            "principal": principal,
            "bonus": bonus,
            "package_id": package_id,
            "payment_method": payment.method,
        },
    )
    return record


def _give_package(
    session: Session, actor: Actor, package: RechargePackage, record: Recharge
) -> None:
    """What a package gives beside the money: coupons, count cards (price 0), points."""
    source_ref = f"recharge:{record.id}"
    for coupon in package.coupons:
        result = issue_coupons(
            session,
            actor,
            coupon["template_id"],
            [record.member_id] * coupon["count"],
            source=IssueSource.recharge_package,
            source_ref=source_ref,
            store_id=record.store_id,
        )
        if result.refused:
            raise PackageCouponsUnavailable(
                f"template {coupon['template_id']} issued {len(result.issued)} of"
                f" {coupon['count']} coupons ({result.refused[0].code})",
                template_id=coupon["template_id"],
            )
    payment = count_cards.Payment(count_cards.PACKAGE, source_ref)
    for card in package.count_cards:
        product = card_products.on_sale(session, card["product_id"])
        for _ in range(card["count"]):
            count_cards.issue(
                session,
                actor,
                record.member_id,
                product,
                record.store_id,
                payment,
                price=0,
                recharge_id=record.id,
            )
    if package.points:
        grants.grant_points(
            session,
            actor,
            record.member_id,
            package.points,
            reason=f"recharge package {package.name}",
            store_id=record.store_id,
            source_ref=source_ref,
        )


def refund_recharge(session: Session, actor: Actor, recharge_id: int) -> Recharge:
    """Within the cooling-off period, refund a whole recharge: its principal paid out, its bonus
    taken back, its package's count cards and coupons voided and its points taken back. Only
    an untouched recharge: nothing drawn from the account since it (`_drawn_since`), the
    account still holding at least its principal and its bonus, none of its cards used (a
    revoked use gives the use back), none of its coupons redeemed or given away, and every
    granted point still available; else 409 recharge_used. After the period 409
    cooling_off_over."""
    REFUND_RECHARGE.check(actor)
    owner = session.scalar(select(Recharge.member_id).where(Recharge.id == recharge_id))
    if owner is None:
        raise RechargeNotFound(f"no recharge {recharge_id}")
    member_merge.hold(session, [owner])
    record = session.scalars(
        select(Recharge)
        .where(Recharge.id == recharge_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if not actor.sees_store(record.store_id):
        raise RechargeNotFound(f"no recharge {recharge_id} in your stores")
    if record.status == RechargeStatus.refunded:
        raise RechargeRefunded(f"recharge {recharge_id} was refunded at {record.refunded_at}")
    now = clock.now()
    days = get_settings().stored_value_cooling_off_days
    if now >= record.created_at + timedelta(days=days):
        raise CoolingOffOver(f"recharge {recharge_id}'s {days} days of cooling-off are over")
    account = lock_accounts(session, [record.member_id])[record.member_id]
    if (
        _drawn_since(session, record)
        or account.principal < record.principal
        or account.bonus < record.bonus
    ):
        raise RechargeUsed(f"recharge {recharge_id} has been drawn on")
    _take_back_package(session, actor, record)
    post(
        session,
        account,
        EntryKind.refund,
        -record.principal,
        -record.bonus,
        store_id=record.store_id,
        operator=actor.name,
        recharge_id=record.id,
        reason="cooling-off refund",
    )
    record.status = RechargeStatus.refunded.value
    record.refunded_at = now
    audit.record(
        session,
        actor,
        "stored_value.recharge_refund",
        "stored_value_recharge",
        record.id,
        store_id=record.store_id,
        after={"principal": record.principal, "bonus": record.bonus},
    )
    return record


def _drawn_since(session: Session, record: Recharge) -> bool:
    """Whether anything left the account after the recharge was paid in: a spend, an account
    refund, a merge or a negative adjustment. The balances alone do not tell: after an account
    refund and a later recharge they would pay this one out of the later one's money. A
    cooling-off refund of another recharge takes only that recharge's own money: it counts
    not."""
    paid_in = (
        select(func.min(StoredValueEntry.id))
        .where(StoredValueEntry.recharge_id == record.id)
        .scalar_subquery()
    )
    entry = StoredValueEntry
    return bool(
        session.scalar(
            select(
                exists().where(
                    entry.member_id == record.member_id,
                    entry.id > paid_in,
                    or_(
                        entry.kind.in_([EntryKind.spend.value, EntryKind.merge_out.value]),
                        and_(entry.kind == EntryKind.refund.value, entry.recharge_id.is_(None)),
                        and_(
                            entry.kind == EntryKind.adjust.value,
                            or_(entry.principal < 0, entry.bonus < 0),
                        ),
                    ),
                )
            )
        )
    )


def _take_back_package(session: Session, actor: Actor, record: Recharge) -> None:
    """Void the package's cards (uses_left 0; they read as `void` since their recharge is
    refunded) and coupons, and take its points back; 409 recharge_used, nothing written, when
    a card has been used, a coupon redeemed or given to another member, or a granted point has
    left its lot. Coupons that expired or were voided meanwhile are left as they are."""
    cards = count_cards.lock_package_cards(session, record.id)
    used = [card.id for card in cards if card.uses_left != card.uses]
    if used:
        raise RechargeUsed(f"recharge {record.id}'s count cards {used} have been used")
    coupons = reclaiming.issued_under(
        session, record.member_id, IssueSource.recharge_package, f"recharge:{record.id}"
    )
    if coupons.gone:
        gone = [coupon.id for coupon in coupons.gone]
        raise RechargeUsed(f"recharge {record.id}'s coupons {gone} were redeemed or given away")
    if not grants.take_back(
        session,
        actor,
        record.member_id,
        f"recharge:{record.id}",
        reason="cooling-off refund",
        store_id=record.store_id,
    ):
        raise RechargeUsed(f"recharge {record.id}'s points have been spent")
    count_cards.void_package_cards(cards)
    reclaiming.void_all(session, actor, coupons.available, "cooling-off refund")


def refund_account(
    session: Session, actor: Actor, member_id: int, store_id: int | None, reason: str
) -> StoredValueEntry:
    """Pay out the account's remaining principal; its bonus lapses, and so do the package
    extras of the recharges since the last account refund (`_end_package_extras`). 409
    nothing_to_refund when no principal is left."""
    REFUND_ACCOUNT.check(actor)
    check_store(session, actor, store_id)
    account = lock_accounts(session, [member_id])[member_id]
    if account.principal <= 0:
        raise NothingToRefund(f"member {member_id} holds no principal")
    principal, bonus = account.principal, account.bonus
    lapsed = _end_package_extras(session, actor, member_id, store_id)
    entry = post(
        session,
        account,
        EntryKind.refund,
        -principal,
        -bonus,
        store_id=store_id,
        operator=actor.name,
        reason=reason or "account refund",
    )
    audit.record(
        session,
        actor,
        "stored_value.account_refund",
        "member",
        member_id,
        store_id=store_id,
        after={
            "principal_paid_out": principal,
            "bonus_lapsed": bonus,
            **lapsed,
            "reason": reason,
        },
    )
    return entry


def _end_package_extras(
    session: Session, actor: Actor, member_id: int, store_id: int | None
) -> dict[str, list[int]]:
    """End what the packages of the member's recharges since the last account refund gave, as
    their bonus ends: unused count cards voided, coupons still the member's and available
    voided, granted points taken back while every one is still in its lot. What the member
    has begun to use is kept: a card with a use, a redeemed or given coupon, points partly
    spent (a card's use revoked the same day gives it back, which a voided card must not
    get). Returns what lapsed and what was kept, by id, for the audit entry."""
    recharge_ids = _package_recharges_since_last_refund(session, member_id)
    cards = count_cards.lock_package_cards(session, *recharge_ids)
    unused = [card for card in cards if card.uses_left == card.uses]
    count_cards.void_package_cards(unused)
    voided, points_kept = [], []
    for recharge_id in recharge_ids:
        source_ref = f"recharge:{recharge_id}"
        coupons = reclaiming.issued_under(
            session, member_id, IssueSource.recharge_package, source_ref
        )
        reclaiming.void_all(session, actor, coupons.available, "account refund")
        voided += [coupon.id for coupon in coupons.available]
        if not grants.take_back(
            session, actor, member_id, source_ref, reason="account refund", store_id=store_id
        ):
            points_kept.append(recharge_id)
    return {
        "package_recharges": recharge_ids,
        "count_cards_voided": [card.id for card in unused],
        "coupons_voided": voided,
        "points_kept_for_recharges": points_kept,
    }


def _package_recharges_since_last_refund(session: Session, member_id: int) -> list[int]:
    """The member's package recharges not refunded, paid in after their last account refund
    (whose extras an earlier account refund has ended)."""
    last_refund = (
        select(func.coalesce(func.max(StoredValueEntry.id), 0))
        .where(
            StoredValueEntry.member_id == member_id,
            StoredValueEntry.kind == EntryKind.refund.value,
            StoredValueEntry.recharge_id.is_(None),
        )
        .scalar_subquery()
    )
    return list(
        session.scalars(
            select(Recharge.id)
            .join(StoredValueEntry, StoredValueEntry.recharge_id == Recharge.id)
            .where(
                Recharge.member_id == member_id,
                Recharge.package_id.is_not(None),
                Recharge.status == RechargeStatus.completed.value,
                StoredValueEntry.kind == EntryKind.recharge.value,
                StoredValueEntry.id > last_refund,
            )
            .order_by(Recharge.id)
        )
    )
