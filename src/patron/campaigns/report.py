"""A campaign's report: its treated and control members side by side over the attribution window
(from launch), what it cost, and its uplift (campaigns.uplift), as figures or as a file.

Converters are members with a purchase left paid after refunds in [launch, launch + attribution
days); revenue is those purchases' net. The treated group is every member not held out, skipped
or not (intention to treat): skips dilute the uplift instead of flattering it. Coupon
redemptions are this campaign's coupons redeemed (control members get none); cost is what
the actions did (campaign_outcomes, `done` rows)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from patron.campaigns import launch, permissions
from patron.campaigns.errors import CampaignNotFound
from patron.campaigns.models import Campaign, CampaignMember
from patron.campaigns.uplift import Effect, Group, Uplift, compare, group_facts
from patron.core import clock
from patron.core.actor import Actor
from patron.core.db import UTCDateTime
from patron.core.export import Cell
from patron.coupons import reports as coupons
from patron.coupons.models import IssueSource


@dataclass(frozen=True)
class Cost:
    coupons: int = 0  # issued
    points: int = 0  # granted
    messages: int = 0  # queued
    coupon_discount: int = 0  # fen the redeemed coupons took off


@dataclass(frozen=True)
class GroupFigures:
    members: int
    converters: int
    conversion_rate: float | None
    revenue: int  # fen
    revenue_per_member: float | None  # fen
    coupon_redemptions: int
    cost: Cost

    @classmethod
    def of(cls, group: Group, redemptions: int, cost: Cost) -> GroupFigures:
        return cls(
            group.members,
            group.converters,
            group.conversion_rate,
            group.revenue,
            group.revenue_per_member,
            redemptions,
            cost,
        )


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: int
    name: str
    status: str
    attribution_days: int
    window_start: datetime | None  # the launch; None before it
    window_end: datetime | None
    complete: bool  # the window is over: the figures will not change
    treated: GroupFigures
    control: GroupFigures
    uplift: Uplift


def campaign_report(session: Session, actor: Actor, campaign_id: int) -> CampaignReport:
    permissions.VIEW.check(actor)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"no campaign {campaign_id}")
    start = campaign.launched_at
    days = campaign.attribution_days
    if start is None:
        treated = control = Group(0, 0, 0, 0.0)
    else:
        audience = select(
            CampaignMember.member_id,
            CampaignMember.in_control,
            literal(start, UTCDateTime()),
        ).where(CampaignMember.campaign_id == campaign.id)
        treated, control = group_facts(session, audience, days)
    issued = coupons.source_figures(session, IssueSource.campaign, launch.reference(campaign.id))
    end = start + timedelta(days=days) if start else None
    return CampaignReport(
        campaign_id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        attribution_days=days,
        window_start=start,
        window_end=end,
        complete=end is not None and clock.now() >= end,
        treated=GroupFigures.of(treated, issued.redeemed, _cost(session, campaign, issued)),
        control=GroupFigures.of(control, 0, Cost()),
        uplift=compare(treated, control),
    )


def launched_between(
    session: Session, actor: Actor, start: datetime, end: datetime
) -> list[CampaignReport]:
    """The reports of the campaigns launched in [start, end), in launch order (a handful a
    month: each report is a few queries)."""
    permissions.VIEW.check(actor)
    launched = select(Campaign.id).where(Campaign.launched_at >= start, Campaign.launched_at < end)
    ids = session.scalars(launched.order_by(Campaign.launched_at, Campaign.id)).all()
    return [campaign_report(session, actor, campaign_id) for campaign_id in ids]


def _cost(session: Session, campaign: Campaign, issued: coupons.SourceFigures) -> Cost:
    used = launch.spent(session, campaign)
    return Cost(
        used["coupons"], used["points"], used["messages"], coupon_discount=issued.discount_given
    )


# The report as a sheet: one row per figure, the groups and their difference side by side.
COLUMNS = (
    "figure",
    "treated",
    "control",
    "absolute",
    "absolute_ci_low",
    "absolute_ci_high",
    "relative",
    "relative_ci_low",
    "relative_ci_high",
)
GROUP_ROWS = ("members", "converters", "revenue", "coupon_redemptions")
COST_ROWS = ("coupons", "points", "messages", "coupon_discount")


def rows(report: CampaignReport) -> Iterator[tuple[Cell, ...]]:
    """The report in COLUMNS order: counts, the two compared measures with their intervals,
    incremental revenue (with its interval), then the cost."""
    treated, control, uplift = report.treated, report.control, report.uplift
    for name in GROUP_ROWS:
        yield (name, getattr(treated, name), getattr(control, name), *blank(6))
    yield _effect_row("conversion_rate", uplift.conversion)
    yield _effect_row("revenue_per_member", uplift.revenue_per_member)
    ci = uplift.incremental_revenue_ci
    yield (
        "incremental_revenue",
        None,
        None,
        uplift.incremental_revenue,
        *(rounded(v) for v in (ci or (None, None))),
        *blank(3),
    )
    for name in COST_ROWS:
        yield (f"cost_{name}", getattr(treated.cost, name), getattr(control.cost, name), *blank(6))


def _effect_row(name: str, effect: Effect) -> tuple[Cell, ...]:
    absolute_ci = effect.absolute_ci or (None, None)
    relative_ci = effect.relative_ci or (None, None)
    values: list[Any] = [
        effect.treated,
        effect.control,
        effect.absolute,
        *absolute_ci,
        effect.relative,
        *relative_ci,
    ]
    return (name, *(rounded(v) for v in values))


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def blank(count: int) -> tuple[None, ...]:
    return (None,) * count
