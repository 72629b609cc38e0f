"""Demo stored value (储值): the chain launched it three months ago, and a third of the members
(more than half of those who bought since) have recharged, mostly at the till just before paying
for an order (a package 充500送50 or 充1000送150, or a plain amount), some online (the money then
belongs to HQ). Some of their later orders are paid from the balance while it covers them, and
now and then a member tops up. A few
members take a recharge back within the cooling-off days, and one asks for the account's
principal to be paid out. A few members buy a count card (次卡) of the stores' services at a
visit, some from their balance, and use it every week or two. After the points are earned, some
orders paid from stored value are refunded, which puts back what they took.

The plan is made before the orders are written (the orders it pays get `stored_value` as their
payment method, so the points earning sees the principal and bonus they took); then every
recharge, spend and refund goes through the stored-value services as of its moment. A seed
makes it reproducible. Each recharge and spend is a transaction's worth of statements through
the services (about 3–5 ms each on the shared machine) where the order history is written in
bulk, so the volume decides `patron demo`'s time: a third of the members recharge, and one
order in four that a balance covers is paid from it."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rich.progress import Progress
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.count_cards import cards as count_cards
from patron.count_cards import products as count_card_products
from patron.count_cards import uses as count_card_uses
from patron.members import codes as member_codes
from patron.members.registry import RosterEntry
from patron.orders import service as orders
from patron.orders.importer import ParsedOrder
from patron.orders.models import Order, PaymentMethod
from patron.orders.schemas import RefundCreate, RefundItemIn
from patron.stored_value import ledger, packages, payments, recharges
from patron.stored_value.models import (
    EntryKind,
    RechargeStatus,
    StoredValueAccount,
    StoredValueEntry,
)
from patron.stored_value.models import Recharge as RechargeRecord

LAUNCH = timedelta(days=91)  # stored value started this long before now
RECHARGERS = 1 / 3  # of the members
PACKAGES = (  # name, pay, bonus (fen)
    ("充500送50", 50000, 5000),
    ("充1000送150", 100000, 15000),
)
CHOICES = (  # what a recharge buys: a package by name, or a plain amount in fen; weight
    ("充500送50", 0.40),
    ("充1000送150", 0.20),
    (20000, 0.15),
    (30000, 0.15),
    (50000, 0.10),
)
RECHARGE_PAYMENTS = (("wechat_pay", 0.55), ("alipay", 0.30), ("bank_card", 0.10), ("cash", 0.05))
BEFORE_PAYING = timedelta(minutes=3)  # a recharge at the till comes just before the order
ONLINE_RECHARGE = 0.4  # a member recharging with an online order does it online (HQ)
USE = 0.25  # an order the balance covers is paid from it (the demo's time: see the note)
TOP_UP = 0.05  # a member whose balance falls short recharges again
COOLING_OFF = 0.005  # of the members' first recharges, taken back within the cooling-off days
ACCOUNT_REFUNDS = 1
ACCOUNT_REFUND_REASON = "会员搬离本市，申请退还储值本金"
ORDER_REFUNDS = 0.02  # of the orders paid from stored value in the last REFUND_WINDOW
REFUND_WINDOW = timedelta(days=90)
REFUND_REASONS = ("商品质量问题", "顾客七天无理由退货", "尺码不合适")
CARD_PRODUCTS = (  # name, service, uses, validity days, price (fen): the stores' services
    ("面部护理10次卡", "美容护理 面部清洁补水", 10, 365, 98000),
    ("头皮养护5次卡", "洗护中心 头皮养护", 5, 180, 45000),
    ("婴儿游泳10次卡", "母婴馆 婴儿游泳", 10, 180, 88000),
    ("现磨咖啡20杯卡", "食品区 现磨咖啡", 20, 90, 30000),
)
CARD_BUYERS = 0.006  # of the members, each buying a card at a store visit since the launch
CARD_FROM_BALANCE = 0.6  # a card buyer whose balance covers it pays from stored value


@dataclass(frozen=True)
class Recharge:
    at: datetime
    member_id: int
    store_id: int | None  # None: online, HQ
    choice: str | int  # a package's name, or fen
    method: str
    taken_back_at: datetime | None = None  # a cooling-off refund


@dataclass(frozen=True)
class Spend:
    order: ParsedOrder
    amount: int


@dataclass(frozen=True)
class AccountRefund:
    at: datetime
    member_id: int
    store_id: int | None  # None: HQ


@dataclass(frozen=True)
class CardSale:
    at: datetime
    member_id: int
    store_id: int
    product: str  # name
    method: str  # stored_value: from the balance


@dataclass(frozen=True)
class CardUse:
    at: datetime
    sale: CardSale


Step = Recharge | Spend | AccountRefund | CardSale | CardUse


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    balances: dict[int, int] = field(default_factory=dict)  # fen, as the plan leaves them

    @property
    def recharges(self) -> list[Recharge]:
        return [s for s in self.steps if isinstance(s, Recharge)]

    @property
    def spends(self) -> list[Spend]:
        return [s for s in self.steps if isinstance(s, Spend)]


def _amounts(choice: str | int) -> tuple[int, int]:
    """(principal, bonus) a recharge choice loads."""
    if isinstance(choice, int):
        return choice, 0
    _, pay, bonus = next(p for p in PACKAGES if p[0] == choice)
    return pay, bonus


def _paid(order: ParsedOrder) -> int:
    return sum(line.paid for line in order.lines)


class Planner:
    """Goes through the orders oldest first, deciding who recharges when and which orders the
    balance pays (their lines' payment method becomes stored_value)."""

    def __init__(
        self, rng: random.Random, home: dict[int, int | None], online_store: int, now: datetime
    ) -> None:
        self.rng, self.home, self.online_store, self.now = rng, home, online_store, now
        self.cap = 500000  # the default balance cap, ¥5,000

    def plan(self, ordered: Sequence[ParsedOrder]) -> Plan:
        launch = self.now - LAUNCH
        later = [o for o in ordered if o.member_id is not None and o.occurred_at >= launch]
        candidates = sorted({o.member_id for o in later if o.member_id is not None})
        wanted = min(len(candidates), round(len(self.home) * RECHARGERS))
        chosen = set(self.rng.sample(candidates, wanted))
        first = self._first_orders(later, chosen)
        card_orders = self._card_orders(later, chosen)
        plan = Plan()
        balances, done = plan.balances, set()
        for order in later:
            member_id = order.member_id or 0
            if card_orders.get(member_id) is order:
                plan.steps += self._card(order, balances)
            if member_id not in chosen or member_id in done:
                continue
            amount = _paid(order)
            if first.get(member_id) is order:
                recharge = self._recharge(order, amount)
                if recharge.taken_back_at is not None:
                    done.add(member_id)  # changed their mind: no spends, no more recharges
                    plan.steps.append(recharge)
                    continue
                plan.steps.append(recharge)
                balances[member_id] = sum(_amounts(recharge.choice))
            elif member_id not in balances:
                continue
            elif balances[member_id] < amount and self.rng.random() < TOP_UP:
                recharge = self._recharge(order, amount - balances[member_id], cooling=False)
                if balances[member_id] + sum(_amounts(recharge.choice)) <= self.cap:
                    plan.steps.append(recharge)
                    balances[member_id] += sum(_amounts(recharge.choice))
            if 0 < amount <= balances[member_id] and self.rng.random() < USE:
                for line in order.lines:
                    line.payment_method = PaymentMethod.stored_value.value
                plan.steps.append(Spend(order, amount))
                balances[member_id] -= amount
        self._account_refunds(plan)
        plan.steps.sort(key=_moment)
        return plan

    def _first_orders(
        self, later: Sequence[ParsedOrder], chosen: set[int]
    ) -> dict[int, ParsedOrder]:
        """The order each chosen member recharges at: one of their first few after the launch."""
        by_member: dict[int, list[ParsedOrder]] = defaultdict(list)
        for order in later:
            if order.member_id in chosen and len(by_member[order.member_id]) < 4:
                by_member[order.member_id].append(order)
        return {m: self.rng.choice(found) for m, found in by_member.items()}

    def _card_orders(
        self, later: Sequence[ParsedOrder], rechargers: set[int]
    ) -> dict[int, ParsedOrder]:
        """The store visit at which each card buyer buys their card: one of their visits since
        the launch, not the first when there are more. Half the buyers hold stored value."""
        visits: dict[int, list[ParsedOrder]] = defaultdict(list)
        for order in later:
            if order.member_id is not None and order.store_id != self.online_store:
                visits[order.member_id].append(order)
        wanted = round(len(self.home) * CARD_BUYERS)
        holding = sorted(m for m in visits if m in rechargers and len(visits[m]) > 1)
        buyers = self.rng.sample(holding, min(len(holding), wanted // 2))
        others = sorted(set(visits) - set(buyers))
        buyers += self.rng.sample(others, min(len(others), wanted - len(buyers)))
        return {m: self.rng.choice(visits[m][1:] or visits[m]) for m in sorted(buyers)}

    def _card(self, order: ParsedOrder, balances: dict[int, int]) -> list[Step]:
        """A card bought with the order, and its uses every week or two while it lasts."""
        rng, member_id = self.rng, order.member_id or 0
        name, _, uses, days, price = rng.choice(CARD_PRODUCTS)
        if balances.get(member_id, 0) >= price and rng.random() < CARD_FROM_BALANCE:
            method = PaymentMethod.stored_value.value
            balances[member_id] -= price
        else:
            method = _payment_method(rng)
        sale = CardSale(order.occurred_at + BEFORE_PAYING, member_id, order.store_id, name, method)
        steps: list[Step] = [sale]
        until = min(self.now, sale.at + timedelta(days=days - 1))
        at = sale.at
        for _ in range(rng.randint(1, uses)):
            at += timedelta(days=rng.uniform(4, 16))
            if at >= until:
                break
            steps.append(CardUse(at, sale))
        return steps

    def _recharge(self, order: ParsedOrder, needed: int, cooling: bool = True) -> Recharge:
        rng = self.rng
        choices = [c for c, _ in CHOICES if sum(_amounts(c)) >= needed] or [CHOICES[1][0]]
        weights = [w for c, w in CHOICES if c in choices]
        choice = rng.choices(choices, weights)[0]
        online = order.store_id == self.online_store
        store_id = None if online and rng.random() < ONLINE_RECHARGE else order.store_id
        if online and store_id is not None:
            store_id = self.home.get(order.member_id or 0) or order.store_id
        at = order.occurred_at - BEFORE_PAYING
        taken_back = None
        if cooling and rng.random() < COOLING_OFF:
            taken_back = at + timedelta(days=rng.uniform(1, 6))
            if taken_back >= self.now:
                taken_back = None
        member_id = order.member_id or 0
        return Recharge(at, member_id, store_id, choice, _payment_method(rng), taken_back)

    def _account_refunds(self, plan: Plan) -> None:
        """Members who leave with principal on the account, a few weeks after their last use."""
        last: dict[int, datetime] = {}
        for step in plan.steps:
            if not isinstance(step, AccountRefund):
                member_id, at = _member(step), _moment(step)
                last[member_id] = max(at, last.get(member_id, at))
        quiet = [
            m
            for m, at in sorted(last.items())
            if plan.balances.get(m, 0) >= 10000 and at < self.now - timedelta(days=60)
        ]
        for member_id in self.rng.sample(quiet, min(ACCOUNT_REFUNDS, len(quiet))):
            at = last[member_id] + timedelta(days=self.rng.uniform(10, 40))
            plan.steps.append(AccountRefund(at, member_id, self.home.get(member_id)))
            plan.balances[member_id] = 0


def _payment_method(rng: random.Random) -> str:
    return rng.choices([m for m, _ in RECHARGE_PAYMENTS], [w for _, w in RECHARGE_PAYMENTS])[0]


def _moment(step: Step) -> datetime:
    return step.order.occurred_at if isinstance(step, Spend) else step.at


def _member(step: Step) -> int:
    if isinstance(step, Spend):
        return step.order.member_id or 0
    return step.sale.member_id if isinstance(step, CardUse) else step.member_id


def prepare(
    session: Session,
    seed: int,
    roster: Sequence[RosterEntry],
    online_store: int,
    ordered: Sequence[ParsedOrder],
) -> Plan:
    """Before the orders are written: who recharges when, and which orders the balance pays."""
    home = {m.id: m.store_id for m in roster}
    return Planner(random.Random(f"stored value {seed}"), home, online_store, clock.now()).plan(
        ordered
    )


# --- loading ------------------------------------------------------------------------------------


def create_packages(session: Session, launch: datetime) -> dict[str, int]:
    """The packages on sale since the launch, by name."""
    made = {}
    with clock.frozen(launch):
        for name, pay, bonus in PACKAGES:
            values = {"name": name, "pay": pay, "bonus": bonus, "valid_from": launch}
            made[name] = packages.save_package(session, SYSTEM, values).id
    return made


def finish(session: Session, plan: Plan) -> None:
    """After the orders are written: the plan's recharges, spends and refunds, each as of its
    moment, through the services, oldest first."""
    if not plan.steps:
        return
    launch = clock.now() - LAUNCH - timedelta(days=1)
    package_ids = create_packages(session, launch)
    product_ids = create_card_products(session, launch)
    card_ids: dict[CardSale, int] = {}
    order_ids = _order_ids(session, [s.order for s in plan.spends])
    taken_back: list[tuple[datetime, int]] = []  # (when, recharge id), oldest first
    with Progress(transient=True) as progress:
        task = progress.add_task("demo stored value", total=len(plan.steps))
        for n, step in enumerate(plan.steps):
            while taken_back and taken_back[0][0] <= _moment(step):
                _take_back(session, *taken_back.pop(0))
            if isinstance(step, Recharge):
                recharge_id = _recharge(session, step, package_ids)
                if step.taken_back_at is not None:
                    taken_back.append((step.taken_back_at, recharge_id))
                    taken_back.sort()
            elif isinstance(step, Spend):
                order = step.order
                with clock.frozen(order.occurred_at):
                    ledger.spend(
                        session,
                        order.member_id or 0,
                        step.amount,
                        order.store_id,
                        order_ids[(order.store_id, order.external_id)],
                    )
            elif isinstance(step, CardSale):
                card_ids[step] = _sell_card(session, step, product_ids)
            elif isinstance(step, CardUse):
                with clock.frozen(step.at):
                    count_card_uses.use_card(
                        session, SYSTEM, card_ids[step.sale], step.sale.store_id
                    )
            else:
                with clock.frozen(step.at):
                    recharges.refund_account(
                        session, SYSTEM, step.member_id, step.store_id, ACCOUNT_REFUND_REASON
                    )
            if n % 1000 == 999:
                session.expunge_all()  # written and flushed: keep the session small
            progress.advance(task)
    for at, recharge_id in taken_back:
        _take_back(session, at, recharge_id)


def create_card_products(session: Session, launch: datetime) -> dict[str, int]:
    """The count-card products on sale since the launch, by name."""
    made = {}
    with clock.frozen(launch):
        for name, service, uses, days, price in CARD_PRODUCTS:
            values = {
                "name": name,
                "service": service,
                "uses": uses,
                "validity_days": days,
                "price": price,
            }
            made[name] = count_card_products.save_product(session, SYSTEM, values).id
    return made


def _sell_card(session: Session, sale: CardSale, product_ids: dict[str, int]) -> int:
    """The card sold through the count-card service; paid from the balance, the member shows
    their member code."""
    with clock.frozen(sale.at):
        verification = None
        if sale.method == PaymentMethod.stored_value:
            code = member_codes.issue_code(session, SYSTEM, sale.member_id).code
            verification = payments.Verification(member_code=code)
        payment = count_cards.Payment(sale.method, "", verification)
        card = count_cards.sell(
            session, SYSTEM, sale.member_id, sale.store_id, product_ids[sale.product], payment
        )
    return card.id


def _recharge(session: Session, step: Recharge, package_ids: dict[str, int]) -> int:
    payment = recharges.Payment(step.method, f"DEMO-{step.at:%Y%m%d%H%M%S}-{step.member_id}")
    amount = step.choice if isinstance(step.choice, int) else None
    package_id = None if isinstance(step.choice, int) else package_ids[step.choice]
    with clock.frozen(step.at):
        record = recharges.recharge(
            session,
            SYSTEM,
            step.member_id,
            step.store_id,
            payment,
            amount=amount,
            package_id=package_id,
        )
    return record.id


def _take_back(session: Session, at: datetime, recharge_id: int) -> None:
    with clock.frozen(at):
        recharges.refund_recharge(session, SYSTEM, recharge_id)


def _order_ids(session: Session, paid: Sequence[ParsedOrder]) -> dict[tuple[int, str], int]:
    keys = [(o.store_id, o.external_id) for o in paid]
    found: dict[tuple[int, str], int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = session.execute(
            select(Order.store_id, Order.external_id, Order.id).where(
                tuple_(Order.store_id, Order.external_id).in_(chunk)
            )
        )
        found |= {(store_id, external_id): order_id for store_id, external_id, order_id in rows}
    return found


def refund_orders(session: Session, seed: int) -> int:
    """After the points are earned: a few recent orders paid from stored value are refunded
    at their store a few days later, in whole or a line of them; the refund puts back what they
    took. Returns how many."""
    rng = random.Random(f"stored value refunds {seed}")
    now = clock.now()
    refunded_accounts = set(
        session.scalars(
            select(StoredValueEntry.member_id).where(
                StoredValueEntry.kind == EntryKind.refund.value,
                StoredValueEntry.recharge_id.is_(None),
            )
        )
    )
    paid = [
        (order_id, member_id)
        for order_id, member_id in session.execute(
            select(StoredValueEntry.order_id, StoredValueEntry.member_id)
            .where(
                StoredValueEntry.kind == EntryKind.spend.value,
                StoredValueEntry.created_at >= now - REFUND_WINDOW,
                StoredValueEntry.order_id.is_not(None),
            )
            .order_by(StoredValueEntry.id)
        )
        if order_id is not None and member_id not in refunded_accounts
    ]
    chosen = sorted(rng.sample(paid, round(len(paid) * ORDER_REFUNDS)))
    for order_id, _ in chosen:
        order = orders.get_order(session, SYSTEM, order_id)
        at = min(order.occurred_at + timedelta(days=rng.uniform(0.5, 5)), now)
        lines = orders.lines_of(session, order_id)
        whole = len(lines) == 1 or rng.random() < 0.6
        request: dict[str, Any] = {"reason": rng.choice(REFUND_REASONS)}
        if whole:
            request["all"] = True
        else:
            line = rng.choice(lines)
            request["items"] = [RefundItemIn(line_id=line.id, quantity=line.quantity)]
        with clock.frozen(at):
            orders.refund_order(session, SYSTEM, order_id, RefundCreate(**request))
    return len(chosen)


def summary(session: Session, order_refunds: int) -> str:
    """One line for `patron demo`: what the ledger holds now."""
    kinds = dict(
        session.execute(
            select(StoredValueEntry.kind, func.count()).group_by(StoredValueEntry.kind)
        ).all()
    )
    members = session.scalar(select(func.count(func.distinct(RechargeRecord.member_id)))) or 0
    principal, bonus = session.execute(
        select(
            func.coalesce(func.sum(StoredValueAccount.principal), 0),
            func.coalesce(func.sum(StoredValueAccount.bonus), 0),
        )
    ).one()
    taken_back = session.scalar(
        select(func.count()).where(RechargeRecord.status == RechargeStatus.refunded.value)
    )
    return (
        f"{members:,} members recharged {kinds.get('recharge', 0):,} times, "
        f"{kinds.get('spend', 0):,} orders paid from the balance, {order_refunds} of them "
        f"refunded, {taken_back} recharges taken back in the cooling-off days, "
        f"{kinds.get('refund', 0) - (taken_back or 0)} account refunds; "
        f"outstanding ¥{principal / 100:,.2f} principal and ¥{bonus / 100:,.2f} bonus"
    )
