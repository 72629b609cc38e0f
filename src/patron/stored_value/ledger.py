"""The stored-value ledger: each member's account of principal and bonus under a row lock, an
entry for every movement, and spending (the split between principal and bonus) and its
reversal. Balances are the sums of the entries; `verify` checks the cached ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from patron.core import events
from patron.core.settings import get_settings
from patron.members import merge as member_merge
from patron.stored_value.errors import InsufficientBalance
from patron.stored_value.events import STORED_VALUE_CHANGED, StoredValueChanged
from patron.stored_value.models import EntryKind, StoredValueAccount, StoredValueEntry

ACCOUNTS = cast(Table, StoredValueAccount.__table__)


def lock_accounts(
    session: Session, member_ids: Iterable[int], *, active: bool = False
) -> dict[int, StoredValueAccount]:
    """The members' accounts, created when missing, locked after the members' rows."""
    blank = {"principal": 0, "bonus": 0, "failed_verifications": 0}
    return member_merge.lock_accounts(session, StoredValueAccount, member_ids, blank, active=active)


def post(
    session: Session,
    account: StoredValueAccount,
    kind: EntryKind,
    principal: int,
    bonus: int,
    *,
    store_id: int | None,
    operator: str,
    **fields: Any,
) -> StoredValueEntry:
    """Move principal and bonus (signed fen) on a locked account, with the entry that says so."""
    account.principal += principal
    account.bonus += bonus
    entry = StoredValueEntry(
        member_id=account.member_id,
        kind=kind.value,
        principal=principal,
        bonus=bonus,
        store_id=store_id,
        operator=operator,
        **fields,
    )
    session.add(entry)
    session.flush()
    if principal or bonus:
        payload = StoredValueChanged(
            member_id=entry.member_id,
            entry_id=entry.id,
            kind=entry.kind,
            principal_change=principal,
            bonus_change=bonus,
            principal=account.principal,
            bonus=account.bonus,
            balance=account.principal + account.bonus,
            store_id=store_id,
            order_id=entry.order_id,
            refund_id=entry.refund_id,
            recharge_id=entry.recharge_id,
            reason=entry.reason or "",
            occurred_at=entry.created_at,
        )
        events.publish(session, STORED_VALUE_CHANGED, entry.member_id, payload)
    return entry


def split(amount: int, principal: int, bonus: int, *, principal_first: bool) -> tuple[int, int]:
    """The (principal, bonus) parts of spending `amount` from these balances. Proportional: the
    bonus part is floor(amount × bonus / balance), so bonus is never over-spent and the
    principal takes the rounding; principal first: bonus only once principal runs out."""
    if principal_first:
        from_principal = min(amount, principal)
        return from_principal, amount - from_principal
    from_bonus = amount * bonus // (principal + bonus)
    return amount - from_bonus, from_bonus


def spend(
    session: Session,
    member_id: int,
    amount: int,
    store_id: int | None,
    order_id: int | None,
    *,
    operator: str = "system",
    count_card_id: int | None = None,
) -> StoredValueEntry:
    """Debit `amount` fen from the member's account for an order (or a count card), principal
    and bonus split as the setting says; 409 insufficient_balance (nothing written) when the
    balance is short."""
    account = lock_accounts(session, [member_id], active=True)[member_id]
    return take(
        session,
        account,
        amount,
        store_id=store_id,
        operator=operator,
        order_id=order_id,
        count_card_id=count_card_id,
    )


def check_balance(account: StoredValueAccount, amount: int) -> None:
    """409 insufficient_balance unless the account holds `amount` fen."""
    if amount <= 0:
        raise ValueError("a spend takes at least one fen")
    held = account.principal + account.bonus
    if held < amount:
        raise InsufficientBalance(
            f"member {account.member_id} holds {held} fen, not {amount}", balance=held
        )


def take(
    session: Session,
    account: StoredValueAccount,
    amount: int,
    *,
    store_id: int | None,
    operator: str,
    order_id: int | None = None,
    count_card_id: int | None = None,
) -> StoredValueEntry:
    """`spend` on an account the caller has locked (`lock_accounts`)."""
    check_balance(account, amount)
    principal, bonus = split(
        amount,
        account.principal,
        account.bonus,
        principal_first=get_settings().stored_value_principal_first,
    )
    return post(
        session,
        account,
        EntryKind.spend,
        -principal,
        -bonus,
        store_id=store_id,
        operator=operator,
        order_id=order_id,
        count_card_id=count_card_id,
    )


@dataclass(frozen=True)
class OrderTake:
    principal: int  # fen the order took, net of what reversals put back
    bonus: int


def order_take(session: Session, order_id: int) -> OrderTake:
    principal, bonus = session.execute(
        select(
            func.coalesce(func.sum(StoredValueEntry.principal), 0),
            func.coalesce(func.sum(StoredValueEntry.bonus), 0),
        ).where(
            StoredValueEntry.order_id == order_id,
            StoredValueEntry.kind.in_((EntryKind.spend.value, EntryKind.spend_reversal.value)),
        )
    ).one()
    return OrderTake(-int(principal), -int(bonus))


def reverse_spend(
    session: Session,
    order_id: int,
    amount: int | None,
    store_id: int | None,
    *,
    refund_id: int | None = None,
    operator: str = "system",
) -> StoredValueEntry | None:
    """Put back `amount` fen (None: all that is left) of what the order took, to the member
    who paid (or the member they were merged into). Partial refunds put back bonus by a
    cumulative floor: after refunds of R of the order's T fen, floor(R × B / T) of its B bonus
    fen are back, so the last refund returns exactly what the order took. None when the order
    took nothing (or all of it is back)."""
    spent = spent_by(session, order_id)
    if spent is None:
        return None
    member_id, total, total_bonus = spent
    # Hold the survivor before re-reading the order's entries: a merge may be moving money.
    survivor = member_merge.hold_survivor(session, member_id)
    account = lock_accounts(session, [survivor])[survivor]
    left = order_take(session, order_id)
    remaining = left.principal + left.bonus
    amount = remaining if amount is None else min(amount, remaining)
    if amount <= 0:
        return None
    refunded_after = total - remaining + amount
    bonus_back_after = refunded_after * total_bonus // total
    bonus = bonus_back_after - (total_bonus - left.bonus)
    return post(
        session,
        account,
        EntryKind.spend_reversal,
        amount - bonus,
        bonus,
        store_id=store_id,
        operator=operator,
        order_id=order_id,
        refund_id=refund_id,
    )


def spent_by(session: Session, order_id: int) -> tuple[int, int, int] | None:
    """(member, total fen, bonus fen) the order's spends took."""
    row = session.execute(
        select(
            func.min(StoredValueEntry.member_id),
            func.sum(StoredValueEntry.principal),
            func.sum(StoredValueEntry.bonus),
        ).where(
            StoredValueEntry.order_id == order_id,
            StoredValueEntry.kind == EntryKind.spend.value,
        )
    ).one()
    if row[0] is None:
        return None
    principal, bonus = -int(row[1] or 0), -int(row[2] or 0)
    return row[0], principal + bonus, bonus


def bonus_spent(session: Session, order_ids: list[int]) -> dict[int, int]:
    """Fen of bonus the orders' spends took, by order (orders that took none left out)."""
    rows = session.execute(
        select(StoredValueEntry.order_id, func.sum(StoredValueEntry.bonus))
        .where(
            StoredValueEntry.order_id.in_(order_ids),
            StoredValueEntry.kind == EntryKind.spend.value,
        )
        .group_by(StoredValueEntry.order_id)
    )
    return {order_id: -int(bonus) for order_id, bonus in rows if order_id is not None and bonus}


@dataclass(frozen=True)
class Mismatch:
    member_id: int
    cached: tuple[int, int]
    ledger: tuple[int, int]


def verify(session: Session) -> list[Mismatch]:
    """Every member whose cached principal and bonus disagree with the sums of their entries."""
    ledger = {
        m: (int(p or 0), int(b or 0))
        for m, p, b in session.execute(
            select(
                StoredValueEntry.member_id,
                func.sum(StoredValueEntry.principal),
                func.sum(StoredValueEntry.bonus),
            ).group_by(StoredValueEntry.member_id)
        )
    }
    cached = {
        a.member_id: (a.principal, a.bonus) for a in session.scalars(select(StoredValueAccount))
    }
    found = []
    for member_id in sorted(set(ledger) | set(cached)):
        held, summed = cached.get(member_id, (0, 0)), ledger.get(member_id, (0, 0))
        if held != summed:
            found.append(Mismatch(member_id, held, summed))
    return found
