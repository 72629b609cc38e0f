"""Points accounts: cached balances under a row lock, ledger entries, settling due lots,
paying debts, and drawing points from lots (recording which lots paid)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, nulls_last, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from patron.core import statements
from patron.core.db import insert_or_skip
from patron.core.money import MAX_FEN
from patron.core.statements import Prepared
from patron.members import merge as member_merge
from patron.points import settling
from patron.points.models import (
    EntryKind,
    LotStatus,
    PointsAccount,
    PointsAllocation,
    PointsEntry,
    PointsLot,
)

MAX_BALANCE = MAX_FEN  # balances live in 32-bit integer columns
ACCOUNTS = cast(Table, PointsAccount.__table__)
LOTS = cast(Table, PointsLot.__table__)
ENTRIES = cast(Table, PointsEntry.__table__)


def lock_accounts(
    session: Session, member_ids: Iterable[int], *, active: bool = False
) -> dict[int, PointsAccount]:
    """The members' points accounts, created when missing, locked after the members' rows."""
    blank = {"available": 0, "pending": 0, "debt": 0}
    return member_merge.lock_accounts(session, PointsAccount, member_ids, blank, active=active)


@dataclass(frozen=True)
class Credited:
    """What `credit_account` wrote: the entry's id and the account's balance after it
    (available + pending - debt)."""

    entry_id: int
    balance: int


def credit_account(
    session: Session,
    member_id: int,
    now: datetime,
    entry: dict[str, Any],
    lot: dict[str, Any] | None,
    *,
    any_debt: bool = False,
    available: int = 0,
    pending: int = 0,
) -> Credited | None:
    """Add points to a member's account, creating it, and write the ledger rows that say so (the
    entry, and the lot when points are kept), holding the account's row lock like
    `lock_accounts`: one statement on PostgreSQL, three on SQLite. Unless `any_debt`, an account
    that owes points is left alone, nothing written and None returned: its debt is paid first,
    under `lock_accounts`."""
    values = {"member_id": member_id, "available": available, "pending": pending, "now": now}
    if session.get_bind().dialect.name == "postgresql":
        ledger = {f"entry_{k}": v for k, v in entry.items()}
        ledger |= {f"lot_{k}": v for k, v in (lot or {}).items()}
        statement = _credit_with_ledger(any_debt, tuple(entry), tuple(lot) if lot else ())
        found = statement.rows(session, values | ledger)
        if not found:
            return None
        entry_id, balance = found[0]
    else:
        credited = _credit(any_debt).rows(session, values)
        if not credited:
            return None
        balance = credited[0][1]
        statements.insert_rows(session, LOTS, [lot] if lot else [])
        entry_id = _entry_returning_id(tuple(entry)).rows(session, entry)[0][0]
    held = session.identity_map.get(identity_key(PointsAccount, member_id))
    if held is not None:  # a copy this session loaded earlier is stale now
        session.expire(held)
    return Credited(entry_id, balance)


@cache
def _entry_returning_id(columns: tuple[str, ...]) -> Prepared:
    values = {c: bindparam(c, type_=ENTRIES.c[c].type) for c in columns}
    return Prepared(lambda _: insert(ENTRIES).values(values).returning(ENTRIES.c.id))


def _balance() -> Any:
    return (ACCOUNTS.c.available + ACCOUNTS.c.pending - ACCOUNTS.c.debt).label("balance")


def _upsert(session: Session, any_debt: bool) -> Any:
    """The account's INSERT ... ON CONFLICT DO UPDATE adding points, returning its member id."""
    upsert = insert_or_skip(session, ACCOUNTS).values(
        member_id=bindparam("member_id", type_=ACCOUNTS.c.member_id.type),
        available=bindparam("available", type_=ACCOUNTS.c.available.type),
        pending=bindparam("pending", type_=ACCOUNTS.c.pending.type),
        debt=0,
        updated_at=bindparam("now", type_=ACCOUNTS.c.updated_at.type),
    )
    return upsert.on_conflict_do_update(
        index_elements=["member_id"],
        set_={
            "available": ACCOUNTS.c.available + upsert.excluded.available,
            "pending": ACCOUNTS.c.pending + upsert.excluded.pending,
            "updated_at": upsert.excluded.updated_at,
        },
        where=None if any_debt else ACCOUNTS.c.debt == 0,
    ).returning(ACCOUNTS.c.member_id, _balance())


@cache
def _credit(any_debt: bool) -> Prepared:
    return Prepared(lambda session: _upsert(session, any_debt))


@cache
def _credit_with_ledger(
    any_debt: bool, entry_columns: tuple[str, ...], lot_columns: tuple[str, ...]
) -> Prepared:
    """PostgreSQL: the account's upsert, and the lot and the entry inserted from what it returns
    (nothing when it updated nothing), in one statement. Built once per shape."""

    def build(session: Session) -> Any:
        account = _upsert(session, any_debt).cte("account")
        entry = _from_account(account, ENTRIES, "entry_", entry_columns).returning(ENTRIES.c.id)
        written = entry.cte("entry")
        both = select(written.c.id, account.c.balance).select_from(written).join(account, true())
        if lot_columns:
            both = both.add_cte(_from_account(account, LOTS, "lot_", lot_columns).cte("lot"))
        return both

    return Prepared(build)


def _from_account(account: Any, table: Table, prefix: str, columns: tuple[str, ...]) -> Any:
    """INSERT of one row into `table` per account row, the other columns from parameters."""
    given = [c for c in columns if c != "member_id"]
    values = [bindparam(f"{prefix}{c}", type_=table.c[c].type) for c in given]
    return insert(table).from_select(["member_id", *given], select(account.c.member_id, *values))


def add_entry(
    session: Session, member_id: int, kind: EntryKind, points: int, operator: str, **fields: Any
) -> PointsEntry:
    entry = PointsEntry(
        member_id=member_id, kind=kind.value, points=points, operator=operator, **fields
    )
    session.add(entry)
    session.flush()
    return entry


def settle_due(session: Session, account: PointsAccount, now: datetime) -> None:
    """Release this member's due pending lots and expire their due lots, before anything reads or
    spends the balance: no expired point is ever spent, whenever the job last ran. The job's own
    rule (`settling`), for one member."""
    settling.settle(session, now, [account.member_id])
    pay_debt(session, account, now)
    session.flush()


def pay_debt(session: Session, account: PointsAccount, now: datetime) -> None:
    """Points that become spendable while a debt is open (released from pending, restored by a
    refund, brought by a merge) pay the debt first, as new earnings do. The entry moves no
    balance (available and debt fall together); its allocations say which lots paid. Callers
    settle the account's due lots first, so `available` holds no expired point."""
    pay = min(account.debt, account.available)
    if pay <= 0:
        return
    entry = add_entry(session, account.member_id, EntryKind.debt_payment, 0, "system")
    paid = draw(session, entry, spendable_lots(session, account.member_id, now), pay)
    entry.reason = f"paid debt {paid}"
    entry.debt_paid = paid
    account.available -= paid
    account.debt -= paid


def spendable_lots(session: Session, member_id: int, now: datetime) -> list[PointsLot]:
    return list(
        session.scalars(
            select(PointsLot)
            .where(
                PointsLot.member_id == member_id,
                settling.status_is(LotStatus.available),
                PointsLot.remaining > 0,
                or_(PointsLot.expires_at.is_(None), PointsLot.expires_at > now),
            )
            .order_by(nulls_last(PointsLot.expires_at.asc()), PointsLot.id)
        )
    )


def draw(session: Session, entry: PointsEntry, lots: list[PointsLot], points: int) -> int:
    """Take up to `points` from `lots` in order, recording allocations; returns what was taken."""
    taken = 0
    for lot in lots:
        if taken == points:
            break
        part = min(lot.remaining, points - taken)
        if part <= 0:
            continue
        lot.remaining -= part
        if lot.remaining == 0 and lot.status == LotStatus.pending:
            lot.status = LotStatus.cancelled.value
        session.add(PointsAllocation(entry_id=entry.id, lot_id=lot.id, points=part))
        taken += part
    return taken


def order_sum(
    session: Session, order_id: int, kind: EntryKind, column: Any = PointsEntry.points
) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(column), 0)).where(
                PointsEntry.order_id == order_id, PointsEntry.kind == kind.value
            )
        )
        or 0
    )
