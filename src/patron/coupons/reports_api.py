"""The coupon templates' report, as JSON or as a CSV / .xlsx file."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Response
from pydantic import BaseModel, Field

from patron.core import clock, export
from patron.core.actor import Actor
from patron.coupons import reports
from patron.deps import OneHopRouter, SessionDep, require

router = OneHopRouter(tags=["coupons"])
Reader = Annotated[Actor, Depends(require(reports.VIEW_REPORT))]


class TemplateFiguresOut(BaseModel):
    template_id: int
    name: str
    type: str
    status: str
    issued: int
    redeemed: int
    expired: int
    void: int
    available: int
    redemption_rate: float | None = Field(
        description="redeemed / issued, 0 to 1; null when nothing was issued"
    )
    discount_given: int = Field(description="fen the redeemed coupons took off their orders")
    redeeming_sales: int = Field(
        description="fen: the totals of the orders the coupons were redeemed on, less refunds"
    )


class CouponReportOut(BaseModel):
    items: list[TemplateFiguresOut]


@router.get(
    "/coupon-templates/report",
    response_model=CouponReportOut,
    responses={
        200: {
            "content": {media: {} for media in export.MEDIA_TYPES.values()},
            "description": "JSON, or with `format` the same rows as a CSV or .xlsx file",
        }
    },
)
def template_report(
    session: SessionDep,
    actor: Reader,
    issued_from: Annotated[
        date | None, Query(description="first business day of issue included")
    ] = None,
    issued_until: Annotated[
        date | None, Query(description="last business day of issue included")
    ] = None,
    store_id: Annotated[
        int | None, Query(description="coupons issued by this store or redeemed there")
    ] = None,
    file_format: Annotated[export.Format | None, Query(alias="format")] = None,
) -> CouponReportOut | Response:
    filters = reports.ReportFilter(issued_from, issued_until, store_id)
    figures = reports.template_report(session, actor, filters)
    if file_format is not None:
        stamp = clock.now().astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
        return export.download(
            file_format, f"coupon-report-{stamp}", reports.COLUMNS, reports.rows(figures)
        )
    return CouponReportOut(
        items=[
            TemplateFiguresOut(
                **{c: getattr(f, c) for c in reports.COLUMNS if c != "redemption_rate"},
                redemption_rate=f.redemption_rate,
            )
            for f in figures
        ]
    )
