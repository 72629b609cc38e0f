"""Coupons as the API and the console show them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.coupons import holding
from patron.coupons.models import Coupon, CouponTemplate, CouponType, IssueSource
from patron.coupons.recipients import ListResult
from patron.coupons.schemas import (
    CouponDetailOut,
    CouponEventOut,
    CouponOut,
    IssueOut,
    RefusalOut,
    ScopeOut,
    TemplateOut,
    TemplateSummary,
)


def template_out(template: CouponTemplate) -> TemplateOut:
    return TemplateOut.model_validate(template)


def coupon_out(coupon: Coupon, template: CouponTemplate, now: datetime) -> CouponOut:
    """The coupon with its template's value and scope (a live template never changes them)."""
    return CouponOut(
        code=coupon.code,
        member_id=coupon.member_id,
        status=holding.status_at(coupon, now),
        template=TemplateSummary.model_validate(template, from_attributes=True),
        type=CouponType(template.type),
        threshold=template.threshold,
        amount=template.amount,
        percent_off=template.percent_off,
        max_discount=template.max_discount,
        gift_sku=template.gift_sku,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        scope=ScopeOut.model_validate(template.scope or {}),
        scope_summary=holding.scope_summary(template.scope or {}),
        source=IssueSource(coupon.source),
        source_ref=coupon.source_ref,
        store_id=coupon.store_id,
        issued_by=coupon.issued_by,
        issued_at=coupon.issued_at,
        order_id=coupon.order_id,
        discount=coupon.discount,
        redeemed_at=coupon.redeemed_at,
        voided_at=coupon.voided_at,
        void_reason=coupon.void_reason,
    )


def coupon_detail(session: Session, coupon: Coupon, now: datetime) -> CouponDetailOut:
    """The coupon and its history."""
    template = session.get(CouponTemplate, coupon.template_id)
    assert template is not None
    events = [CouponEventOut.model_validate(e) for e in holding.history(session, coupon.id)]
    return CouponDetailOut(**coupon_out(coupon, template, now).model_dump(), history=events)


def coupons_out(session: Session, coupons: list[Coupon], now: datetime) -> list[CouponOut]:
    templates = holding.templates_of(session, coupons)
    return [coupon_out(c, templates[c.template_id], now) for c in coupons]


def issue_out(result: ListResult) -> IssueOut:
    refused = [
        RefusalOut(member_id=r.member_id, code=r.code.value, mobile=r.mobile, row=r.row)
        for r in result.refused
    ]
    return IssueOut(issued=result.issued, refused=refused)
