"""Stored value's figures for finance: the cross-store settlement (跨店结算) of a period, and the
liability (the members' money the chain holds) by store of recharge.

Settlement counts principal only, by the store the money moved at (None: HQ, where online
recharges and movements at no store belong): what was recharged, refunded (cooling-off and
account refunds), spent (less what order refunds put back) and adjusted. `net` = recharged +
adjusted − refunded − spent: positive, the store holds members' money and owes HQ. Merges move
money between members, not in or out of the chain, so they are no settlement movement; bonus
entries carry no principal. Every figure is a sum of entries' principal, so the report
reconciles with the ledger to the fen, and the drill-down lists exactly the entries summed.

Liability attributes what each member holds to the stores where it was recharged. Spends take
the oldest money first, so a member's principal and bonus are the remains of their newest
recharges (refunded ones excepted), walked back in time; what no recharge explains (an
adjustment, a balance merged in) is `unattributed`. One query and a linear pass."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.export import Cell
from patron.core.reasons import Reason
from patron.members import merge as member_merge
from patron.stored_value.models import (
    EntryKind,
    Recharge,
    RechargeStatus,
    StoredValueAccount,
    StoredValueEntry,
)
from patron.stored_value.permissions import VIEW_FIGURES
from patron.stores import service as stores
from patron.stores.models import Store

SETTLED_KINDS = (
    EntryKind.recharge,
    EntryKind.spend,
    EntryKind.spend_reversal,
    EntryKind.refund,
    EntryKind.adjust,
)


@dataclass(frozen=True)
class Period:
    first: date  # business days, both included
    last: date

    def bounds(self) -> tuple[datetime, datetime]:
        """From the start of the first day to the start of the day after the last, business
        time."""
        if self.first > self.last:
            raise InvalidInput("to", "is before from", code=Reason.dates_reversed)
        tz = clock.business_tz()
        return (
            datetime.combine(self.first, time(), tz),
            datetime.combine(self.last + timedelta(days=1), time(), tz),
        )


@dataclass(frozen=True)
class StoreRef:
    """One row of the report: a store, or HQ (id None)."""

    id: int | None


@dataclass(frozen=True)
class Figures:
    """Principal in fen."""

    recharged: int = 0
    refunded: int = 0
    spent: int = 0  # less what order refunds put back
    adjusted: int = 0

    @property
    def net(self) -> int:
        return self.recharged + self.adjusted - self.refunded - self.spent

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.recharged + other.recharged,
            self.refunded + other.refunded,
            self.spent + other.spent,
            self.adjusted + other.adjusted,
        )


@dataclass(frozen=True)
class StoreNames:
    store_id: int | None  # None: HQ
    store_code: str | None
    store_name: str | None


@dataclass(frozen=True)
class SettlementRow(StoreNames):
    figures: Figures


@dataclass(frozen=True)
class Settlement:
    period: Period
    rows: list[SettlementRow]
    totals: Figures
    # With a store chosen: the entries behind its figures, oldest first.
    entries: list[StoredValueEntry] | None = None


def settlement(
    session: Session, actor: Actor, period: Period, store: StoreRef | None = None
) -> Settlement:
    """A row per store with movement in the period (the actor's stores only, HQ's row for
    chain-wide readers), HQ first and then by store code; with `store`, that row alone (zeros
    when nothing moved) and its entries."""
    VIEW_FIGURES.check(actor)
    start, end = period.bounds()
    where = [
        StoredValueEntry.kind.in_([k.value for k in SETTLED_KINDS]),
        StoredValueEntry.created_at >= start,
        StoredValueEntry.created_at < end,
        _scope(session, actor, store),
    ]
    sums: dict[int | None, dict[str, int]] = defaultdict(dict)
    query = (
        select(
            StoredValueEntry.store_id, StoredValueEntry.kind, func.sum(StoredValueEntry.principal)
        )
        .where(*where)
        .group_by(StoredValueEntry.store_id, StoredValueEntry.kind)
    )
    for store_id, kind, principal in session.execute(query):
        sums[store_id][kind] = int(principal)
    if store is not None:
        sums.setdefault(store.id, {})
    rows = [
        SettlementRow(**asdict(names), figures=_figures(sums[names.store_id]))
        for names in _names(session, sums)
    ]
    entries = None
    if store is not None:
        entries = list(
            session.scalars(
                select(StoredValueEntry)
                .where(*where, StoredValueEntry.principal != 0)
                .order_by(StoredValueEntry.created_at, StoredValueEntry.id)
            )
        )
    return Settlement(period, rows, sum((r.figures for r in rows), Figures()), entries)


def _scope(session: Session, actor: Actor, store: StoreRef | None) -> ColumnElement[bool]:
    if store is None:
        if actor.store_ids is None:
            return true()
        return StoredValueEntry.store_id.in_(actor.store_ids)
    if not actor.sees_store(store.id):
        raise InvalidInput(
            "store_id", f"no store {store.id or 'hq'} in your scope", code=Reason.unknown_store
        )
    if store.id is None:
        return StoredValueEntry.store_id.is_(None)
    stores.check_ids_exist(session, [store.id], field="store_id")
    return StoredValueEntry.store_id == store.id


def _figures(by_kind: dict[str, int]) -> Figures:
    return Figures(
        recharged=by_kind.get(EntryKind.recharge, 0),
        refunded=-by_kind.get(EntryKind.refund, 0),
        spent=-by_kind.get(EntryKind.spend, 0) - by_kind.get(EntryKind.spend_reversal, 0),
        adjusted=by_kind.get(EntryKind.adjust, 0),
    )


def _names(session: Session, store_ids: Iterable[int | None]) -> list[StoreNames]:
    """The rows' stores, HQ first, then by code."""
    wanted = set(store_ids)
    found = session.execute(
        select(Store.id, Store.code, Store.name)
        .where(Store.id.in_(wanted - {None}))
        .order_by(Store.code)
    )
    hq = [StoreNames(None, None, None)] if None in wanted else []
    return hq + [StoreNames(*row) for row in found]


@dataclass(frozen=True)
class Holding:
    principal: int = 0  # fen
    bonus: int = 0

    def __add__(self, other: Holding) -> Holding:
        return Holding(self.principal + other.principal, self.bonus + other.bonus)


@dataclass(frozen=True)
class LiabilityRow(StoreNames):
    holding: Holding


@dataclass(frozen=True)
class Liability:
    rows: list[LiabilityRow]  # by store of recharge; store_id None: online (HQ)
    unattributed: Holding  # what no recharge explains
    totals: Holding


def liability(session: Session, actor: Actor) -> Liability:
    """What members hold now, by the store of the recharges it remains of. Chain-wide readers
    get HQ's row, the unattributed remainder, and totals equal to the accounts' sums; a store
    manager their stores' rows, the totals being theirs."""
    VIEW_FIGURES.check(actor)
    by_store: dict[int | None, Holding] = defaultdict(Holding)
    unattributed = Holding()
    for store, holding in _attributed(_holdings(session, actor.store_ids)):
        if store is None:
            unattributed += holding
        elif actor.sees_store(store.id):
            by_store[store.id] += holding
    if not actor.all_stores:
        unattributed = Holding()
    rows = [
        LiabilityRow(**asdict(names), holding=by_store[names.store_id])
        for names in _names(session, by_store)
    ]
    return Liability(rows, unattributed, sum((r.holding for r in rows), unattributed))


def _holdings(session: Session, store_ids: frozenset[int] | None) -> list[tuple[Any, ...]]:
    """The rows `_attributed` reads: each account holding money with its recharges, newest
    first, the recharges of members merged into it counted as its own (the money moved).
    With `store_ids`, only the accounts with a recharge at those stores (the others hold no
    money of theirs)."""
    owner = member_merge.survivors(session)
    accounts = select(
        StoredValueAccount.member_id, StoredValueAccount.principal, StoredValueAccount.bonus
    ).where(or_(StoredValueAccount.principal > 0, StoredValueAccount.bonus > 0))
    # Newest first: by time, then id (the last two columns, dropped below).
    recharges = select(
        Recharge.member_id,
        Recharge.store_id,
        Recharge.principal,
        Recharge.bonus,
        Recharge.created_at,
        Recharge.id,
    ).where(Recharge.status == RechargeStatus.completed.value)
    if store_ids is None:
        held = session.execute(accounts).all()
        loaded = session.execute(
            recharges.order_by(Recharge.created_at.desc(), Recharge.id.desc())
        ).all()
    else:
        there = select(Recharge.member_id).where(
            Recharge.status == RechargeStatus.completed.value,
            Recharge.store_id.in_(sorted(store_ids)),
        )
        recharged = set(session.scalars(there.distinct()))
        owners = {owner.get(m, m) for m in recharged}
        # Named apart (few): survivors of merges who did not recharge there themselves, and
        # the merged members whose recharges are now theirs; the rest by the subquery.
        also = sorted((owners - recharged) | {m for m, into in owner.items() if into in owners})
        ours = or_(Recharge.member_id.in_(there), Recharge.member_id.in_(also))
        held = [
            row
            for row in session.execute(
                accounts.where(
                    or_(
                        StoredValueAccount.member_id.in_(there),
                        StoredValueAccount.member_id.in_(also),
                    )
                )
            )
            if row.member_id in owners
        ]
        loaded = session.execute(
            recharges.where(ours).order_by(Recharge.created_at.desc(), Recharge.id.desc())
        ).all()
    loads: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for member_id, *recharge in loaded:
        loads[owner.get(member_id, member_id)].append(tuple(recharge[:3]))
    return [
        (member_id, principal, bonus, *recharge)
        for member_id, principal, bonus in sorted(tuple(row) for row in held)
        for recharge in loads.get(member_id) or [(None, None, None)]
    ]


def _attributed(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[StoreRef | None, Holding]]:
    """Each member's balance split over the stores of their recharges, newest first, the rest
    unattributed (None). `rows`: (member, principal held, bonus held, recharge store, its
    principal, its bonus), a member's rows together, newest recharge first (the last three
    None: no recharge)."""
    for _, member_rows in groupby(rows, key=lambda row: row[0]):
        principal = bonus = 0
        for number, (_, held_principal, held_bonus, store_id, loaded, loaded_bonus) in enumerate(
            member_rows
        ):
            if number == 0:
                principal, bonus = held_principal, held_bonus
            if loaded is None or not (principal or bonus):
                break
            taken = Holding(min(principal, loaded), min(bonus, loaded_bonus))
            if taken.principal or taken.bonus:
                yield StoreRef(store_id), taken
            principal, bonus = principal - taken.principal, bonus - taken.bonus
        yield None, Holding(principal, bonus)


HQ = "hq"  # HQ's row in files, where a store's id stands
TOTAL = "total"
SETTLEMENT_COLUMNS = (
    "store_id",
    "store_code",
    "store_name",
    "recharged",
    "refunded",
    "spent",
    "adjusted",
    "net",
)
ENTRY_COLUMNS = (
    "entry_id",
    "member_id",
    "kind",
    "principal",
    "created_at",
    "store_id",
    "order_id",
    "recharge_id",
    "refund_id",
    "operator",
    "reason",
)
LIABILITY_COLUMNS = ("store_id", "store_code", "store_name", "principal", "bonus")


def settlement_rows(report: Settlement) -> Iterator[tuple[Cell, ...]]:
    """The settlement as file rows, in SETTLEMENT_COLUMNS order, its totals last."""
    for row in report.rows:
        yield (_file_id(row.store_id), row.store_code, row.store_name, *_amounts(row.figures))
    yield (TOTAL, None, None, *_amounts(report.totals))


def _amounts(figures: Figures) -> tuple[int, ...]:
    return figures.recharged, figures.refunded, figures.spent, figures.adjusted, figures.net


def entry_rows(entries: Iterable[StoredValueEntry]) -> Iterator[tuple[Cell, ...]]:
    """The drill-down's entries as file rows, in ENTRY_COLUMNS order, times in business time."""
    tz = clock.business_tz()
    for e in entries:
        yield (
            e.id,
            e.member_id,
            e.kind,
            e.principal,
            e.created_at.astimezone(tz),
            _file_id(e.store_id),
            e.order_id,
            e.recharge_id,
            e.refund_id,
            e.operator,
            e.reason,
        )


def liability_rows(report: Liability) -> Iterator[tuple[Cell, ...]]:
    """The liability as file rows, in LIABILITY_COLUMNS order: the stores, the unattributed
    remainder (chain-wide readers), the totals."""
    for row in report.rows:
        yield (_file_id(row.store_id), row.store_code, row.store_name, *_held(row.holding))
    yield ("unattributed", None, None, *_held(report.unattributed))
    yield (TOTAL, None, None, *_held(report.totals))


def _held(holding: Holding) -> tuple[int, int]:
    return holding.principal, holding.bonus


def _file_id(store_id: int | None) -> int | str:
    return HQ if store_id is None else store_id
