"""GET /api/v1/campaigns/{id}/report: treated against control, as JSON or as a file."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from patron.campaigns import permissions, report
from patron.campaigns.errors import CampaignNotFound
from patron.campaigns.uplift import Effect
from patron.core import clock, export
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.deps import OneHopRouter, SessionDep, require

router = OneHopRouter(tags=["campaigns"])
Viewer = Annotated[Actor, Depends(require(permissions.VIEW))]
Interval = tuple[float, float]


class CostOut(BaseModel):
    coupons: int = Field(description="coupons issued")
    points: int = Field(description="points granted")
    messages: int = Field(description="messages queued")
    coupon_discount: int = Field(description="fen the campaign's redeemed coupons took off")


class GroupOut(BaseModel):
    members: int
    converters: int = Field(description="members with a purchase in the window, net of refunds")
    conversion_rate: float | None = Field(description="converters / members, 0 to 1")
    revenue: int = Field(description="fen: the members' purchases in the window, net of refunds")
    revenue_per_member: float | None = Field(description="fen")
    coupon_redemptions: int = Field(description="this campaign's coupons redeemed")
    cost: CostOut


class EffectOut(BaseModel):
    treated: float | None
    control: float | None
    absolute: float | None = Field(description="treated − control")
    absolute_ci: Interval | None
    relative: float | None = Field(description="treated / control − 1")
    relative_ci: Interval | None


class UpliftOut(BaseModel):
    confidence: float
    conversion: EffectOut = Field(
        description="two-proportion (unpooled normal) interval; relative: delta method"
    )
    revenue_per_member: EffectOut = Field(
        description="Welch interval (t, Welch–Satterthwaite df); relative: delta method"
    )
    incremental_revenue: int | None = Field(
        description="fen: (revenue per treated − revenue per control) × treated members"
    )
    incremental_revenue_ci: Interval | None


class CampaignReportOut(BaseModel):
    campaign_id: int
    name: str
    status: str
    attribution_days: int
    window_start: datetime | None = Field(description="the launch; null before it")
    window_end: datetime | None
    complete: bool = Field(description="the window is over: the figures are final")
    treated: GroupOut
    control: GroupOut
    uplift: UpliftOut


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media: {} for media in export.MEDIA_TYPES.values()},
        "description": "JSON, or with `format` the report as a CSV or .xlsx sheet",
    }
}


def _effect(effect: Effect) -> EffectOut:
    return EffectOut(**vars(effect))


def report_out(found: report.CampaignReport) -> CampaignReportOut:
    groups = {
        name: GroupOut(**{**vars(figures), "cost": CostOut(**vars(figures.cost))})
        for name, figures in (("treated", found.treated), ("control", found.control))
    }
    uplift = found.uplift
    return CampaignReportOut(
        campaign_id=found.campaign_id,
        name=found.name,
        status=found.status,
        attribution_days=found.attribution_days,
        window_start=found.window_start,
        window_end=found.window_end,
        complete=found.complete,
        **groups,
        uplift=UpliftOut(
            confidence=uplift.confidence,
            conversion=_effect(uplift.conversion),
            revenue_per_member=_effect(uplift.revenue_per_member),
            incremental_revenue=uplift.incremental_revenue,
            incremental_revenue_ci=uplift.incremental_revenue_ci,
        ),
    )


def download(found: report.CampaignReport, file_format: export.Format) -> Response:
    stamp = clock.now().astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
    name = f"campaign-{found.campaign_id}-report-{stamp}"
    return export.download(file_format, name, report.COLUMNS, report.rows(found))


@router.get(
    "/campaigns/{campaign_id}/report",
    response_model=CampaignReportOut,
    responses={**FILE_RESPONSES, **errors(CampaignNotFound)},
)
def campaign_report(
    campaign_id: int,
    session: SessionDep,
    actor: Viewer,
    file_format: Annotated[export.Format | None, Query(alias="format")] = None,
) -> CampaignReportOut | Response:
    """Treated and control members over the attribution window from launch: members,
    converters (a purchase left paid after refunds), conversion rate, revenue per member (fen),
    coupon redemptions and cost; the uplift of conversion and of revenue per member, absolute
    and relative, with 95% intervals, and incremental revenue. Before launch every count is 0;
    until the window is over (`complete`) the figures still grow."""
    found = report.campaign_report(session, actor, campaign_id)
    if file_format is not None:
        return download(found, file_format)
    return report_out(found)
