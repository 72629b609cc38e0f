"""How each coupon template did: issued, redeemed, expired, void and still available, the
discount its coupons gave and the sales of the orders they were redeemed on. Two queries
whatever the number of templates or coupons: the coupons' counts per template, and the net
sales of the redeeming orders per template (through the orders service).

A store's report (a store manager's, or HQ's with `store_id`) counts the coupons that passed
through the store: issued by it, or redeemed there. HQ-issued coupons never redeemed belong to
no store, so a store's redemption rate is the chain-wide report's business, not a store's."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.coupons import holding, permissions
from patron.coupons.models import Coupon, CouponStatus, CouponTemplate, IssueSource
from patron.orders import service as orders

# HQ reads every store; a store manager reads the coupons that passed through their stores.


@dataclass(frozen=True)
class ReportFilter:
    issued_from: date | None = None  # business days, both ends included
    issued_until: date | None = None
    store_id: int | None = None


@dataclass(frozen=True)
class TemplateFigures:
    template_id: int
    name: str
    type: str
    status: str
    issued: int
    redeemed: int
    expired: int
    void: int
    available: int
    discount_given: int  # fen
    redeeming_sales: int  # fen: the redeeming orders' totals less their refunds

    @property
    def redemption_rate(self) -> float | None:
        """Redeemed of issued, 0 to 1; None when nothing was issued."""
        return round(self.redeemed / self.issued, 4) if self.issued else None


COLUMNS = (
    "template_id",
    "name",
    "type",
    "status",
    "issued",
    "redeemed",
    "expired",
    "void",
    "available",
    "redemption_rate",
    "discount_given",
    "redeeming_sales",
)


def template_report(session: Session, actor: Actor, filters: ReportFilter) -> list[TemplateFigures]:
    """Every template, oldest first, with the figures of its coupons that the filters (and the
    actor's stores) select."""
    permissions.VIEW_REPORT.check(actor)
    selected = _selected(actor, filters)
    sales = orders.net_sales_by(
        session,
        select(Coupon.template_id, Coupon.order_id).where(
            Coupon.status == CouponStatus.redeemed.value,
            Coupon.order_id.is_not(None),
            *selected,
        ),
    )
    now = clock.now()
    counts = [_count(status, now) for status in CouponStatus]
    discount = func.sum(
        case((Coupon.status == CouponStatus.redeemed.value, Coupon.discount), else_=0)
    )
    query = (
        select(
            CouponTemplate.id,
            CouponTemplate.name,
            CouponTemplate.type,
            CouponTemplate.status,
            func.count(Coupon.id),
            *counts,
            func.coalesce(discount, 0),
        )
        .outerjoin(Coupon, and_(Coupon.template_id == CouponTemplate.id, *selected))
        .group_by(CouponTemplate.id)
        .order_by(CouponTemplate.id)
    )
    return [_figures(row, sales.get(row[0], 0)) for row in session.execute(query)]


def _count(status: CouponStatus, now: datetime) -> ColumnElement[Any]:
    """Coupons of this status as the member is shown them now (past validity: expired, whether
    or not the job has marked them yet)."""
    return func.coalesce(func.sum(case((holding.is_status(status, now), 1), else_=0)), 0)


def _figures(row: Sequence[Any], sales: int) -> TemplateFigures:
    template_id, name, kind, status, issued, *by_status, discount = row
    counted = dict(zip(CouponStatus, (int(n) for n in by_status), strict=True))
    return TemplateFigures(
        template_id=template_id,
        name=name,
        type=kind,
        status=status,
        issued=int(issued),
        redeemed=counted[CouponStatus.redeemed],
        expired=counted[CouponStatus.expired],
        void=counted[CouponStatus.void],
        available=counted[CouponStatus.available],
        discount_given=int(discount),
        redeeming_sales=sales,
    )


def _selected(actor: Actor, filters: ReportFilter) -> list[ColumnElement[bool]]:
    """The conditions on a coupon that the filters and the actor's stores put."""
    if (
        filters.issued_from is not None
        and filters.issued_until is not None
        and filters.issued_from > filters.issued_until
    ):
        raise InvalidInput("issued_until", "is before issued_from", code=Reason.dates_reversed)
    conditions: list[ColumnElement[bool]] = []
    if filters.issued_from is not None:
        conditions.append(Coupon.issue_day >= filters.issued_from)
    if filters.issued_until is not None:
        conditions.append(Coupon.issue_day <= filters.issued_until)
    stores = actor.store_ids
    if filters.store_id is not None:
        if not actor.sees_store(filters.store_id):
            raise InvalidInput(
                "store_id", f"no store {filters.store_id} in your scope", code=Reason.unknown_store
            )
        stores = frozenset({filters.store_id})
    if stores is not None:
        conditions.append(or_(Coupon.store_id.in_(stores), Coupon.redeemed_store_id.in_(stores)))
    return conditions


def rows(figures: list[TemplateFigures]) -> Iterator[tuple[Any, ...]]:
    """The report as file rows, in COLUMNS order."""
    for f in figures:
        yield tuple(
            f.redemption_rate if column == "redemption_rate" else getattr(f, column)
            for column in COLUMNS
        )


@dataclass(frozen=True)
class SourceFigures:
    issued: int
    redeemed: int
    discount_given: int  # fen


def source_figures(session: Session, source: IssueSource, source_ref: str) -> SourceFigures:
    """The coupons one issuer gave (e.g. a campaign: source `campaign`, its id as ref): how
    many, how many were redeemed and the discount they gave."""
    redeemed = Coupon.status == CouponStatus.redeemed.value
    issued, used, discount = session.execute(
        select(
            func.count(Coupon.id),
            func.coalesce(func.sum(case((redeemed, 1), else_=0)), 0),
            func.coalesce(func.sum(case((redeemed, Coupon.discount), else_=0)), 0),
        ).where(Coupon.source == source.value, Coupon.source_ref == source_ref)
    ).one()
    return SourceFigures(int(issued), int(used), int(discount))
