"""Points as cash (积分抵现): how many points may pay for which lines, by the policy's value
(100 points = ¥1), share of the order, minimum, optional cap per order, caps by category and
whether points pay beside a coupon. Pure rules over the lines' amounts; the order path checks a
points payment with `check`, the checkout finds the most a member may use with `most` and
spreads them over the lines with `spread`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import gcd

from sqlalchemy.orm import Session

from patron.core.errors import InvalidInput
from patron.core.money import allocate
from patron.core.reasons import Reason
from patron.points.policy import get_policy


@dataclass(frozen=True)
class CashTerms:
    points_per_yuan: int = 100
    max_share_pct: int = 50
    min_burn: int = 100
    max_points_per_order: int | None = None
    category_caps: dict[str, int] = field(default_factory=dict)  # category code -> percent
    combine_with_coupons: bool = True

    @property
    def unit(self) -> int:
        """The fewest points worth a whole number of fen."""
        return self.points_per_yuan // gcd(self.points_per_yuan, 100)

    def fen_of(self, points: int) -> int:
        return points * 100 // self.points_per_yuan

    def points_of(self, fen: int) -> int | None:
        """The points worth exactly `fen`; None when no whole number of points is."""
        points, rest = divmod(fen * self.points_per_yuan, 100)
        return None if rest else points


def terms(session: Session) -> CashTerms:
    policy = get_policy(session)
    return CashTerms(
        points_per_yuan=policy.points_per_yuan_value,
        max_share_pct=policy.max_order_share_pct,
        min_burn=policy.min_burn,
        max_points_per_order=policy.max_points_per_order,
        category_caps=dict(policy.category_caps or {}),
        combine_with_coupons=policy.combine_with_coupons,
    )


@dataclass(frozen=True)
class PayLine:
    category_code: str | None
    amount: int  # fen the line costs after its discounts


def capacities(cash: CashTerms, lines: Sequence[PayLine]) -> list[int]:
    """Fen each line may be paid with points: per category (lines without one together), the
    lower of the order share and the category's cap of the category's amount, spread over its
    lines by amount."""
    groups: dict[str | None, list[int]] = defaultdict(list)
    for index, line in enumerate(lines):
        groups[line.category_code].append(index)
    found = [0] * len(lines)
    for code, members in groups.items():
        pct = min(cash.max_share_pct, cash.category_caps.get(code, 100) if code else 100)
        amounts = [lines[i].amount for i in members]
        limit = sum(amounts) * pct // 100
        for i, part in zip(
            members, allocate(limit, amounts) if limit else [0] * len(members), strict=True
        ):
            found[i] = part
    return found


def most(cash: CashTerms, lines: Sequence[PayLine], available: int, *, with_coupons: bool) -> int:
    """The most points that may pay for these lines with `available` points on the account: a
    whole number of units, 0 when that is under the minimum or coupons forbid points."""
    if with_coupons and not cash.combine_with_coupons:
        return 0
    fen = sum(capacities(cash, lines))
    points = min(available, fen * cash.points_per_yuan // 100)
    if cash.max_points_per_order is not None:
        points = min(points, cash.max_points_per_order)
    points -= points % cash.unit
    return points if points >= cash.min_burn else 0


def check(cash: CashTerms, lines: Sequence[PayLine], points: int, *, with_coupons: bool) -> None:
    """Refuse a points payment the policy does not allow (the balance is the burn's to check)."""
    field_name = "payments"
    if with_coupons and not cash.combine_with_coupons:
        raise InvalidInput(
            field_name, "points do not pay beside a coupon", code=Reason.points_not_with_coupons
        )
    if points % cash.unit:
        raise InvalidInput(
            field_name,
            f"points pay in steps of {cash.unit}: {points} is not worth whole fen",
            code=Reason.points_not_whole_fen,
        )
    if points < cash.min_burn:
        raise InvalidInput(
            field_name, f"at least {cash.min_burn} points per burn", code=Reason.below_min_burn
        )
    if cash.max_points_per_order is not None and points > cash.max_points_per_order:
        raise InvalidInput(
            field_name,
            f"at most {cash.max_points_per_order} points per order",
            code=Reason.exceeds_points_cap,
        )
    share = sum(line.amount for line in lines) * cash.max_share_pct // 100
    if cash.fen_of(points) > share:
        raise InvalidInput(
            field_name,
            f"points may pay at most {cash.max_share_pct}% of the order",
            code=Reason.exceeds_order_share,
        )
    if cash.fen_of(points) > sum(capacities(cash, lines)):
        raise InvalidInput(
            field_name,
            "points may pay only part of some categories' lines",
            code=Reason.exceeds_category_cap,
        )


def check_named(
    cash: CashTerms, lines: Sequence[PayLine], named: Sequence[int], points: int
) -> None:
    """Points the lines name themselves: whole units each, adding up to the points payment,
    and within each category's cap."""
    for index, line_points in enumerate(named):
        if line_points % cash.unit:
            raise InvalidInput(
                f"items.{index}.points",
                f"points pay in steps of {cash.unit}: {line_points} is not worth whole fen",
                code=Reason.points_not_whole_fen,
            )
    if sum(named) != points:
        raise InvalidInput(
            "items",
            f"the lines' points add up to {sum(named)}, the points payment is {points} points",
            code=Reason.tenders_mismatch,
        )
    limits: dict[str | None, int] = defaultdict(int)
    used: dict[str | None, int] = defaultdict(int)
    for line, most, line_points in zip(lines, capacities(cash, lines), named, strict=True):
        limits[line.category_code] += most
        used[line.category_code] += cash.fen_of(line_points)
    for code, fen in used.items():
        if fen > limits[code]:
            raise InvalidInput(
                "items",
                f"points pay {fen} fen of category {code or '(none)'}, at most {limits[code]}",
                code=Reason.exceeds_category_cap,
            )


def spread(cash: CashTerms, lines: Sequence[PayLine], points: int) -> list[int]:
    """Points per line, in whole units, in proportion to what each line may take."""
    caps = capacities(cash, lines)
    if not points:
        return [0] * len(lines)
    return [units * cash.unit for units in allocate(points // cash.unit, caps)]
