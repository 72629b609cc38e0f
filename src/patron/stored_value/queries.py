"""Reading a member's stored value: the balance as pages and the API show it, the statement of
movements, the recent recharges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.daily import BusinessDays
from patron.stored_value.models import EntryKind, Recharge, StoredValueAccount, StoredValueEntry


@dataclass(frozen=True)
class Balance:
    principal: int = 0
    bonus: int = 0
    has_password: bool = False
    locked_until: datetime | None = None  # the lock-out after wrong codes, while it lasts

    @property
    def total(self) -> int:
        return self.principal + self.bonus


def balance(session: Session, member_id: int) -> Balance:
    account = session.get(StoredValueAccount, member_id)
    if account is None:
        return Balance()
    locked = account.locked_until
    return Balance(
        account.principal,
        account.bonus,
        account.password_hash is not None,
        locked if locked is not None and locked > clock.now() else None,
    )


def entries(member_id: int) -> Select[StoredValueEntry]:
    """The member's movements, for a cursor page by entry id."""
    return select(StoredValueEntry).where(StoredValueEntry.member_id == member_id)


def recent_recharges(session: Session, member_id: int, limit: int) -> list[Recharge]:
    return list(
        session.scalars(
            select(Recharge)
            .where(Recharge.member_id == member_id)
            .order_by(Recharge.id.desc())
            .limit(limit)
        )
    )


def recharge_of(session: Session, member_id: int, recharge_id: int) -> Recharge | None:
    """The member's recharge; None when there is none by that id or it is another member's."""
    found = session.get(Recharge, recharge_id)
    return found if found is not None and found.member_id == member_id else None


def balances() -> Select[int, int]:
    """(member_id, balance): principal plus bonus in fen. Members without an account hold none."""
    total = (StoredValueAccount.principal + StoredValueAccount.bonus).label("balance")
    return select(StoredValueAccount.member_id, total)


def held(session: Session) -> Balance:
    """What all members hold now, principal and bonus in fen: the accounts' sums."""
    principal, bonus = session.execute(
        select(
            func.coalesce(func.sum(StoredValueAccount.principal), 0),
            func.coalesce(func.sum(StoredValueAccount.bonus), 0),
        )
    ).one()
    return Balance(int(principal), int(bonus))


def ledger_by_day(days: BusinessDays) -> Select[*tuple[Any, ...]]:
    """Per business day of `days` and store (0: none, online): principal recharged, bonus
    given, spent on orders (less what refunds put back), paid out by refunds, and
    adjustments signed, in fen; merges move value between members and are left out."""
    e = StoredValueEntry
    day = days.of(e.created_at).label("day")
    store = func.coalesce(e.store_id, 0).label("store_id")
    both = e.principal + e.bonus
    return (
        select(
            day,
            store,
            _sum_of(e.principal, (EntryKind.recharge,)).label("sv_recharged"),
            _sum_of(e.bonus, (EntryKind.recharge, EntryKind.bonus)).label("sv_bonus"),
            (-_sum_of(both, (EntryKind.spend, EntryKind.spend_reversal))).label("sv_spent"),
            (-_sum_of(both, (EntryKind.refund,))).label("sv_refunded"),
            _sum_of(both, (EntryKind.adjust,)).label("sv_adjusted"),
        )
        .where(days.holds(e.created_at))
        .group_by(day, store)
    )


def _sum_of(amount: Any, kinds: Sequence[EntryKind]) -> ColumnElement[int]:
    chosen = StoredValueEntry.kind.in_([k.value for k in kinds])
    return func.coalesce(func.sum(case((chosen, amount), else_=0)), 0)


def days_changed_since(days: BusinessDays, entry_id: int) -> Select[*tuple[Any, ...]]:
    """The business days of the entries past `entry_id`."""
    entry = StoredValueEntry
    return select(days.of(entry.created_at)).where(entry.id > entry_id).distinct()


def last_entry_id() -> Select[*tuple[int | None]]:
    return select(func.max(StoredValueEntry.id))
