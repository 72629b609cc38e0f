"""Two years of demo order history from a buying process a data scientist would accept.

Each member buys as a Poisson process whose rate is their own (gamma-distributed across
members), and after every purchase may drop out for good (a beta-distributed chance per
member), as in the BG/NBD model; what they spend per order varies around their own mean
(gamma-gamma). Rates swell at weekends and before 春节, at 618 and at 双11. Categories follow
the store type, and about 30% of orders have no member. A seed makes it reproducible."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from rich.progress import Progress
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.catalog.schemas import CategoryCreate
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.demo import coupons
from patron.demo import stored_value as demo_stored_value
from patron.demo.brand import ONLINE_STORE
from patron.members import registry
from patron.orders.importer import ParsedLine, ParsedOrder, write_orders
from patron.orders.schemas import OrderImportReport
from patron.stores import service as stores
from patron.stores.service import StoreFilter

MONTHS = 24
DAYS = 730
# Category code -> (name, [(sku suffix, product name, list price in fen)])
CATALOG: dict[str, tuple[str, list[tuple[str, str, int]]]] = {
    "BEAUTY": (
        "美妆个护",
        [
            ("01", "氨基酸洁面乳", 6900),
            ("02", "玻尿酸精华液", 19900),
            ("03", "防晒霜SPF50", 12900),
            ("04", "保湿面霜", 15900),
            ("05", "口红", 9900),
            ("06", "洗发水", 4990),
            ("07", "沐浴露", 3990),
        ],
    ),
    "MATERNAL": (
        "母婴",
        [
            ("01", "婴儿奶粉900g", 29800),
            ("02", "纸尿裤L码", 12900),
            ("03", "婴儿湿巾", 2590),
            ("04", "儿童牙膏", 1990),
            ("05", "婴儿润肤乳", 6800),
        ],
    ),
    "FOOD": (
        "食品",
        [
            ("01", "坚果礼盒", 12800),
            ("02", "挂耳咖啡", 5900),
            ("03", "牛肉干", 3900),
            ("04", "燕麦片", 2990),
            ("05", "绿茶", 6800),
            ("06", "酸奶", 1290),
            ("07", "巧克力", 2590),
        ],
    ),
    "HOME": (
        "家居",
        [
            ("01", "纯棉毛巾", 2990),
            ("02", "香薰蜡烛", 8900),
            ("03", "收纳盒", 3990),
            ("04", "陶瓷马克杯", 4900),
            ("05", "四件套", 39900),
        ],
    ),
    "APPAREL": (
        "服饰",
        [
            ("01", "纯棉T恤", 9900),
            ("02", "针织开衫", 25900),
            ("03", "袜子三双装", 3990),
            ("04", "帆布包", 6900),
        ],
    ),
}
CATEGORY_MIX = {
    "owned": {"BEAUTY": 0.35, "MATERNAL": 0.10, "FOOD": 0.20, "HOME": 0.15, "APPAREL": 0.20},
    "franchise": {"BEAUTY": 0.20, "MATERNAL": 0.15, "FOOD": 0.40, "HOME": 0.20, "APPAREL": 0.05},
}
PAYMENTS = (
    ("wechat_pay", 0.47),
    ("alipay", 0.28),
    ("bank_card", 0.12),
    ("cash", 0.08),
    ("other", 0.05),
)
NON_MEMBER_SHARE = 0.30


def seasonality(day: date) -> float:
    """Relative buying intensity of a calendar day."""
    factor = 1.35 if day.weekday() >= 5 else 1.0
    if (day.month, day.day) >= (6, 1) and (day.month, day.day) <= (6, 18):
        factor *= 1.5 if day.day < 16 else 2.5  # 618 builds up to its last days
    if day.month == 11 and day.day <= 11:
        factor *= 1.6 if day.day < 10 else 3.0  # 双11
    days_to_new_year = (_spring_festival(day.year) - day).days
    if 0 <= days_to_new_year <= 21:
        factor *= 1.8  # 年货 shopping before 春节
    elif -7 <= days_to_new_year < 0:
        factor *= 0.4  # the holiday itself is quiet
    return factor


SPRING_FESTIVALS = {  # 春节 (the first day of the lunar year), for the demo's two-year window
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
    2033: date(2033, 1, 31),
    2034: date(2034, 2, 19),
    2035: date(2035, 2, 8),
}


def _spring_festival(year: int) -> date:
    return SPRING_FESTIVALS.get(year, date(year, 2, 1))


MAX_SEASONALITY = 1.35 * 3.0


@dataclass
class StoreInfo:
    id: int
    code: str
    type: str
    city: str
    open: bool


@dataclass
class Buyer:
    member_id: int | None
    home: StoreInfo
    rate_per_day: float
    dropout: float
    mean_spend: float
    online_share: float


class HistoryGenerator:
    def __init__(self, rng: random.Random, store_list: list[StoreInfo], now: datetime) -> None:
        self.rng, self.now = rng, now
        self.start = now - timedelta(days=DAYS)
        self.stores = [s for s in store_list if s.code != ONLINE_STORE]
        self.online = next((s for s in store_list if s.code == ONLINE_STORE), self.stores[0])
        self.by_city: dict[str, list[StoreInfo]] = {}
        for store in self.stores:
            self.by_city.setdefault(store.city, []).append(store)
        self.sequence = 0
        self.store_weights = [rng.paretovariate(1.8) for _ in self.stores]

    def buyer(self, member_id: int | None, home: StoreInfo | None) -> Buyer:
        rng = self.rng
        return Buyer(
            member_id=member_id,
            home=home or rng.choices(self.stores, self.store_weights)[0],
            rate_per_day=rng.gammavariate(0.9, 1.7) / 30,  # mean about 1.5 orders a month
            dropout=rng.betavariate(1.2, 18.0),  # mean about 6% after each purchase
            mean_spend=rng.gammavariate(4.0, 3000),  # mean ¥120 per order
            online_share=rng.betavariate(1, 5),
        )

    def purchase_times(self, buyer: Buyer, since: datetime) -> Iterator[datetime]:
        """Poisson arrivals thinned by seasonality, stopping when the buyer drops out."""
        rng, moment = self.rng, since
        peak = buyer.rate_per_day * MAX_SEASONALITY
        while True:
            gap = rng.expovariate(peak)
            if gap >= (self.now - moment).total_seconds() / 86400:
                return
            moment += timedelta(days=gap)
            local = moment.astimezone(clock.business_tz())
            if rng.random() * MAX_SEASONALITY > seasonality(local.date()):
                continue
            opening = local.replace(
                hour=10 + int(rng.triangular(0, 11.5, 8)), minute=rng.randint(0, 59)
            )
            stamp = opening.astimezone(UTC)
            if stamp >= self.now:
                return
            yield stamp
            if rng.random() < buyer.dropout:
                return

    def order(self, buyer: Buyer, at: datetime) -> ParsedOrder:
        rng = self.rng
        online = buyer.member_id is not None and rng.random() < buyer.online_share
        store = self.online if online else self._store_for(buyer)
        channel = rng.choice(("online_mall", "mini_program")) if online else "pos"
        budget = max(990, rng.gammavariate(3.0, buyer.mean_spend / 3.0))
        lines = self._lines(store, budget)
        self.sequence += 1
        local = at.astimezone(clock.business_tz())
        return ParsedOrder(
            first_row=self.sequence,
            store_id=store.id,
            external_id=f"{store.code}-{local:%Y%m%d}-{self.sequence:07d}",
            occurred_at=at,
            channel=channel,
            member_id=buyer.member_id,
            lines=lines,
        )

    def _store_for(self, buyer: Buyer) -> StoreInfo:
        if self.rng.random() < 0.8:
            return buyer.home
        return self.rng.choice(self.by_city.get(buyer.home.city, self.stores))

    def _lines(self, store: StoreInfo, budget: float) -> list[ParsedLine]:
        rng = self.rng
        mix = CATEGORY_MIX["owned" if store.type == "owned" else "franchise"]
        method = rng.choices([m for m, _ in PAYMENTS], [w for _, w in PAYMENTS])[0]
        lines: list[ParsedLine] = []
        spent = 0
        for _ in range(1 + min(5, int(rng.expovariate(0.8)))):
            category = rng.choices(list(mix), list(mix.values()))[0]
            suffix, name, price = rng.choice(CATALOG[category][1])
            quantity = 1 if price > 10000 else 1 + int(rng.expovariate(1.5))
            discount = (
                price * quantity * rng.choice((5, 10, 20)) // 100 if rng.random() < 0.15 else 0
            )
            paid = price * quantity - discount
            lines.append(
                ParsedLine(
                    f"{category}-{suffix}", name, category, quantity, price, discount, paid, method
                )
            )
            spent += paid
            if spent >= budget:
                break
        return lines

    def member_orders(
        self, roster: list[registry.RosterEntry], stores_by_id: dict[int, StoreInfo]
    ) -> Iterator[ParsedOrder]:
        for entry in roster:
            buyer = self.buyer(entry.id, stores_by_id.get(entry.store_id or 0))
            since = max(entry.registered_at, self.start)
            for at in self.purchase_times(buyer, since):
                yield self.order(buyer, at)

    def walk_in_orders(self, count: int) -> Iterator[ParsedOrder]:
        """Orders without a member: shoppers who never registered, spread like member orders."""
        made = 0
        while made < count:
            buyer = self.buyer(None, None)
            buyer.dropout = 1.0  # one visit each
            for at in self.purchase_times(
                buyer, self.start + timedelta(days=self.rng.uniform(0, DAYS))
            ):
                made += 1
                yield self.order(buyer, at)


def _name_categories(session: Session) -> None:
    """The categories under their names (母婴, not MATERNAL), before orders would create them
    named by their codes: segment rules and reports name them."""
    known = {category.code for category in catalog.list_categories(session)}
    for code, (name, _products) in CATALOG.items():
        if code not in known:
            catalog.create_category(session, SYSTEM, CategoryCreate(code=code, name=name))


def load(session: Session, seed: int = 2026) -> OrderImportReport:
    rng = random.Random(seed)
    _name_categories(session)
    store_list = [
        StoreInfo(s.id, s.code, s.type, s.city, s.status == "open")
        for s in stores.list_stores(session, SYSTEM, StoreFilter(), None, 200).items
    ]
    generator = HistoryGenerator(rng, store_list, clock.now())
    roster = registry.roster(session)
    member_orders = list(generator.member_orders(roster, {s.id: s for s in store_list}))
    walk_in = int(len(member_orders) * NON_MEMBER_SHARE / (1 - NON_MEMBER_SHARE))
    everything = member_orders + list(generator.walk_in_orders(walk_in))
    everything.sort(key=lambda o: o.occurred_at)
    with_coupons = coupons.prepare(session, seed, roster, generator.start, everything)
    paid_from_balance = demo_stored_value.prepare(
        session, seed, roster, generator.online.id, everything
    )
    report = OrderImportReport(
        dry_run=False, rows=0, orders=0, created=0, skipped=0, lines=0, errors=[]
    )
    with Progress(transient=True) as progress:
        task = progress.add_task("demo orders", total=len(everything))

        def tracked() -> Iterator[ParsedOrder]:
            for order in everything:
                progress.advance(task)
                yield order

        write_orders(session, SYSTEM, tracked(), report, dry_run=False)
    coupons.finish(session, with_coupons)
    demo_stored_value.finish(session, paid_from_balance)
    return report
