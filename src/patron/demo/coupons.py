"""Demo coupons, made with the order history: templates of every type issued over the demo's
two years the way a chain's marketing does, and used on the demo orders as a till would.

The campaigns: a monthly member day 满100减20, a quarterly beauty 8.5折 (at most ¥30 off), a ¥10
welcome voucher for some of each month's new members, a towel 兑换券, an ¥8 shipping coupon for
online orders, and a 满200减50 for each Double Eleven (its template ended afterwards). Each wave
is issued through the issuing service with the clock set to its day. Before the orders are
written, a member holding coupons that apply to an order (by the evaluator) mostly uses the best
one, and the order's lines carry its discount, as a POS sends them; online orders under ¥199 get
an ¥8 delivery line. A few coupons sent to the wrong members are voided the same day. After the
orders are written, the redemption path takes each coupon used with its order, and the coupons
job expires the rest past their validity. A seed makes it reproducible."""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import SYSTEM
from patron.core.settings import get_settings
from patron.coupons import gifting, issuing, redemption, templates
from patron.coupons import jobs as coupon_jobs
from patron.coupons.evaluator import (
    DEFAULT_SHIPPING_SKU,
    Context,
    CouponTerms,
    Line,
    Scope,
    best,
    evaluate,
)
from patron.coupons.models import CouponStatus, CouponTemplate, CouponType, IssueSource
from patron.members.registry import RosterEntry
from patron.orders import service as orders
from patron.orders.importer import ParsedLine, ParsedOrder

ONLINE_CHANNELS = ("online_mall", "mini_program")
SHIPPING_FEE = 800  # an online order below FREE_SHIPPING_FROM pays this delivery
FREE_SHIPPING_FROM = 19900
USE_CHANCE = 0.7  # a member uses the best coupon that applies to an order
GIFT_CHANCE = 0.25  # a member holding a 兑换券 picks the gift up on a visit
GIFT = ("HOME-01", "纯棉毛巾", "HOME", 2990)  # history.CATALOG's towel
WAVE_HOUR = time(10, 0)  # business time
VOID_CHANCE = 0.01  # a coupon issued by mistake, voided a few hours later
VOID_AFTER = timedelta(hours=3)
VOID_REASON = "发错会员，已作废"


@dataclass(frozen=True)
class Campaign:
    """A template, and its waves: every `every` days through the history, to `share` of the
    members registered by then, or (`newcomers`) of those who registered since the last wave."""

    values: dict[str, Any]
    every: int
    share: float
    newcomers: bool = False


CAMPAIGNS = (
    Campaign(
        {
            "name": "会员日 满100减20",
            "type": CouponType.cash_off,
            "threshold": 10000,
            "amount": 2000,
            "valid_days": 30,
        },
        every=30,
        share=0.01,
    ),
    Campaign(
        {
            "name": "美妆8.5折券 最高减30元",
            "type": CouponType.percent_off,
            "percent_off": 15,
            "max_discount": 3000,
            "valid_days": 30,
            "scope": {"category_codes": ["BEAUTY"]},
        },
        every=91,
        share=0.02,
    ),
    Campaign(
        {
            "name": "新人礼 ¥10代金券",
            "type": CouponType.voucher,
            "amount": 1000,
            "valid_days": 30,
            "per_member_limit": 1,
        },
        every=30,
        share=0.2,
        newcomers=True,
    ),
    Campaign(
        {
            "name": f"{GIFT[1]}兑换券",
            "type": CouponType.gift,
            "gift_sku": GIFT[0],
            "valid_days": 60,
        },
        every=91,
        share=0.006,
    ),
    Campaign(
        {
            "name": "线上运费券 ¥8",
            "type": CouponType.shipping,
            "amount": SHIPPING_FEE,
            "valid_days": 60,
            "scope": {"channels": list(ONLINE_CHANNELS)},
        },
        every=60,
        share=0.01,
    ),
)
DOUBLE_ELEVEN_SHARE = 0.03


def double_eleven(year: int) -> Campaign:
    """满200减50 valid 11.1–11.11 of `year`, issued once on 10.25."""
    tz = clock.business_tz()
    return Campaign(
        {
            "name": f"{year}双11 满200减50",
            "type": CouponType.cash_off,
            "threshold": 20000,
            "amount": 5000,
            "valid_from": datetime.combine(date(year, 11, 1), time(0, 0), tz),
            "valid_until": datetime.combine(date(year, 11, 11), time(23, 59, 59), tz),
        },
        every=0,
        share=DOUBLE_ELEVEN_SHARE,
    )


@dataclass(frozen=True)
class Wave:
    campaign: Campaign
    at: datetime
    member_ids: list[int]


def schedule(
    rng: random.Random, roster: Sequence[RosterEntry], start: datetime, now: datetime
) -> list[Wave]:
    """Every campaign's waves between `start` and `now`, oldest first."""
    members = sorted(roster, key=lambda m: m.registered_at)
    joined = [m.registered_at for m in members]
    waves = []
    for campaign in CAMPAIGNS:
        day = _local_day(start) + timedelta(days=rng.randint(0, campaign.every - 1))
        while (at := _wave_time(day)) < now:
            since = at - timedelta(days=campaign.every) if campaign.newcomers else None
            waves.append(Wave(campaign, at, _drawn(rng, members, joined, at, since, campaign)))
            day += timedelta(days=campaign.every)
    for year in range(start.year, now.year + 1):
        campaign = double_eleven(year)
        at = _wave_time(date(year, 10, 25))
        if start <= at and campaign.values["valid_until"] < now:
            waves.append(Wave(campaign, at, _drawn(rng, members, joined, at, None, campaign)))
    waves.sort(key=lambda w: w.at)
    return [w for w in waves if w.member_ids]


def _local_day(moment: datetime) -> date:
    return moment.astimezone(clock.business_tz()).date()


def _wave_time(day: date) -> datetime:
    return datetime.combine(day, WAVE_HOUR, clock.business_tz())


def _drawn(
    rng: random.Random,
    members: Sequence[RosterEntry],
    joined: Sequence[datetime],
    at: datetime,
    since: datetime | None,
    campaign: Campaign,
) -> list[int]:
    """The members a wave goes to, in id order."""
    first = 0 if since is None else bisect.bisect_right(joined, since)
    eligible = members[first : bisect.bisect_right(joined, at)]
    chosen = rng.sample(eligible, round(len(eligible) * campaign.share))
    return sorted(m.id for m in chosen)


# --- the coupons held, and used on orders ------------------------------------------------------


@dataclass(frozen=True)
class HeldCoupon:
    coupon_id: int
    terms: CouponTerms


@dataclass(frozen=True)
class Use:
    """An order that takes a coupon: its lines carry `discount` already."""

    order: ParsedOrder
    coupon: HeldCoupon
    discount: int


def shared_terms(values: dict[str, Any]) -> dict[str, Any]:
    """What every coupon of a campaign's template shares, as the evaluator's CouponTerms
    fields."""
    return {
        "type": CouponType(values["type"]),
        "status": CouponStatus.available,
        "threshold": values.get("threshold", 0),
        "amount": values.get("amount"),
        "percent_off": values.get("percent_off"),
        "max_discount": values.get("max_discount"),
        "gift_sku": values.get("gift_sku"),
        "scope": Scope.from_json(values.get("scope", {})),
    }


@dataclass
class Wallets:
    """The coupons each member holds and has not used yet."""

    rng: random.Random
    shipping_sku: str = DEFAULT_SHIPPING_SKU
    held: dict[int, list[HeldCoupon]] = field(default_factory=lambda: defaultdict(list))

    def hand_out(
        self,
        values: dict[str, Any],
        issued: Iterable[issuing.IssuedCoupon],
        validity: tuple[datetime, datetime],
    ) -> None:
        """Coupons of a template (its `values`) as issued, valid from and until `validity`."""
        shared = shared_terms(values)
        start, end = validity
        for coupon in issued:
            terms = CouponTerms(
                code=coupon.code,
                member_id=coupon.member_id,
                valid_from=start,
                valid_until=end,
                **shared,
            )
            self.held[coupon.member_id].append(HeldCoupon(coupon.id, terms))

    def use_on(self, ordered: Sequence[ParsedOrder]) -> list[Use]:
        """Go through the orders, oldest first: online ones under FREE_SHIPPING_FROM get their
        delivery line, and a member's order takes the best of their coupons now and then."""
        uses = []
        for order in ordered:
            if order.channel in ONLINE_CHANNELS and _paid(order) < FREE_SHIPPING_FROM:
                order.lines.append(self._delivery(order))
            if order.member_id is not None and self.held.get(order.member_id):
                use = self._use(order)
                if use is not None:
                    uses.append(use)
        return uses

    def _use(self, order: ParsedOrder) -> Use | None:
        at = order.occurred_at
        wallet = self.held[order.member_id or 0]
        current = [c for c in wallet if c.terms.valid_from <= at <= c.terms.valid_until]
        if any(c.terms.valid_until < at for c in wallet):
            # Orders come oldest first: a coupon past its validity stays unused for good.
            wallet[:] = [c for c in wallet if c.terms.valid_until >= at]
        if not current:
            return None
        context = Context(
            order.member_id, order.store_id, order.channel, at, shipping_sku=self.shipping_sku
        )
        lines = [_line(ln) for ln in order.lines]
        gift = Line(GIFT[0], GIFT[2], 1, GIFT[3], GIFT[3])
        offers = []
        for coupon in current:
            terms = coupon.terms
            if terms.type == CouponType.gift:
                if self.rng.random() >= GIFT_CHANCE:
                    continue
                offers.append((terms, evaluate(terms, [*lines, gift], context)))
            else:
                offers.append((terms, evaluate(terms, lines, context)))
        chosen = best(offers)
        if chosen is None or self.rng.random() >= USE_CHANCE:
            return None
        discount = dict(offers)[chosen].discount
        coupon = next(c for c in wallet if c.terms is chosen)
        wallet.remove(coupon)
        self._apply(order, chosen, discount)
        return Use(order, coupon, discount)

    def _apply(self, order: ParsedOrder, terms: CouponTerms, discount: int) -> None:
        """The discount on the order's lines: the gift's own line, the delivery line, or spread
        over the in-scope goods by what each paid."""
        if terms.type == CouponType.gift:
            sku, name, category, price = GIFT
            method = order.lines[0].payment_method
            order.lines.append(
                ParsedLine(sku, name, category, 1, price, discount, price - discount, method)
            )
            return
        if terms.type == CouponType.shipping:
            taking = [ln for ln in order.lines if ln.sku == self.shipping_sku]
        else:
            taking = [
                ln
                for ln in order.lines
                if ln.sku != self.shipping_sku and terms.scope.takes_line(_line(ln))
            ]
        for line, share in zip(taking, _spread(discount, [ln.paid for ln in taking]), strict=True):
            line.discount += share
            line.paid -= share

    def _delivery(self, order: ParsedOrder) -> ParsedLine:
        method = order.lines[0].payment_method
        return ParsedLine(self.shipping_sku, "运费", None, 1, SHIPPING_FEE, 0, SHIPPING_FEE, method)


def _line(line: ParsedLine) -> Line:
    """An order line as the evaluator takes it."""
    return Line(
        line.sku, line.category_code, line.quantity, line.unit_price, line.paid, line.discount
    )


def _paid(order: ParsedOrder) -> int:
    return sum(ln.paid for ln in order.lines)


def _spread(amount: int, paid: Sequence[int]) -> list[int]:
    """`amount` (at most their sum) split over lines in proportion to what each paid, in
    whole fen, no line taking more than it paid."""
    base = sum(paid)
    shares = [amount * p // base for p in paid]
    rest = amount - sum(shares)
    for i in sorted(range(len(paid)), key=lambda i: paid[i] - shares[i], reverse=True):
        extra = min(rest, paid[i] - shares[i])
        shares[i] += extra
        rest -= extra
    return shares


# --- loading ------------------------------------------------------------------------------------


def issue(session: Session, waves: Sequence[Wave], wallets: Wallets) -> dict[str, CouponTemplate]:
    """The campaigns' templates, each created active on its first wave's day, and every wave
    issued through the issuing service as of its moment; what was issued goes to `wallets`."""
    made: dict[str, CouponTemplate] = {}
    for wave in waves:
        values = wave.campaign.values
        with clock.frozen(wave.at):
            template = made.get(values["name"])
            if template is None:
                template = templates.create_template(
                    session, SYSTEM, {**values, "status": "active"}
                )
                made[values["name"]] = template
            result = issuing.issue_coupons(
                session,
                SYSTEM,
                template.id,
                wave.member_ids,
                source=IssueSource.demo,
                source_ref=f"{values['name']} {_local_day(wave.at):%Y-%m-%d}",
            )
            validity = issuing.coupon_validity(template, wave.at)
        kept = [c for c in result.issued if wallets.rng.random() >= VOID_CHANCE]
        _void(session, [c for c in result.issued if c not in kept], wave.at + VOID_AFTER)
        wallets.hand_out(values, kept, validity)
    return made


def _void(session: Session, issued: Sequence[issuing.IssuedCoupon], at: datetime) -> None:
    """Coupons sent to the wrong members, voided the same day."""
    with clock.frozen(at):
        for coupon in issued:
            voided = gifting.void_coupon(session, SYSTEM, coupon.code, VOID_REASON)
            session.expunge(voided)


def redeem(session: Session, uses: Sequence[Use]) -> None:
    """Each use taken by the redemption path as of its order's moment, with the order as
    written. (`Wallets` judged it with the evaluator as order intake does; the tests hold the
    lines to the amount intake would accept.)"""
    for use in uses:
        order = use.order
        written = orders.find_by_external_id(session, order.store_id, order.external_id)
        assert written is not None, f"demo order {order.external_id} was not written"
        taken = redemption.Redemption(
            use.coupon.coupon_id, use.coupon.terms.code, use.coupon.terms.member_id, use.discount
        )
        with clock.frozen(order.occurred_at):
            redemption.redeem(
                session, SYSTEM, [taken], written.id, order.store_id, order.occurred_at
            )
        session.expunge(written)


@dataclass(frozen=True)
class Prepared:
    templates: dict[str, CouponTemplate]
    uses: list[Use]


def prepare(
    session: Session,
    seed: int,
    roster: Sequence[RosterEntry],
    start: datetime,
    ordered: Sequence[ParsedOrder],
) -> Prepared:
    """Before the orders are written: the templates and their waves issued, and the orders
    (oldest first) given their delivery lines and coupon discounts."""
    rng = random.Random(f"coupons {seed}")
    now = clock.now()
    wallets = Wallets(rng, get_settings().coupon_shipping_sku)
    made = issue(session, schedule(rng, roster, start, now), wallets)
    return Prepared(made, wallets.use_on(ordered))


def finish(session: Session, prepared: Prepared) -> None:
    """After the orders are written: their coupons redeemed, what is past its validity expired
    by the coupons job, and the Double Eleven templates ended."""
    redeem(session, prepared.uses)
    coupon_jobs.run(session, clock.now())
    for template in prepared.templates.values():
        if template.valid_until is not None and template.valid_until < clock.now():
            templates.update_template(session, SYSTEM, template.id, {"status": "ended"})
