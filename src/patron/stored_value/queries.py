"""Reading a member's stored value: the balance as pages and the API show it, the statement of
movements, the recent recharges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.stored_value.models import Recharge, StoredValueAccount, StoredValueEntry


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
