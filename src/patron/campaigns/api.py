from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from patron.campaigns import permissions, service
from patron.campaigns.errors import (
    AlreadyLaunched,
    BudgetBelowCost,
    CampaignNotEditable,
    CampaignNotFound,
    ChainWideOnly,
    InvalidRule,
    UnknownSegment,
    UnknownTemplate,
)
from patron.campaigns.models import Campaign, CampaignStatus
from patron.campaigns.schemas import (
    CampaignDetail,
    CampaignIn,
    CampaignMemberOut,
    CampaignOut,
    CampaignPatch,
    CampaignPreview,
    CampaignPreviewIn,
)
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import IdempotentDep, OneHopRouter, SessionDep, require

router = OneHopRouter(tags=["campaigns"])
Viewer = Annotated[Actor, Depends(require(permissions.VIEW))]
Manager = Annotated[Actor, Depends(require(permissions.MANAGE))]
Limit = Annotated[int, Query(ge=1, le=200)]
REFUSALS = (InvalidRule, UnknownSegment, UnknownTemplate, ChainWideOnly)


class _Launch(BaseModel):
    """What a launch's Idempotency-Key is bound to: the campaign (the path) alone."""


def campaign_out(campaign: Campaign) -> CampaignOut:
    return CampaignOut.model_validate(campaign, from_attributes=True)


def _detail(session: SessionDep, campaign: Campaign) -> CampaignDetail:
    return CampaignDetail(
        **campaign_out(campaign).model_dump(),
        treated=service.treated_count(session, campaign.id),
        outcomes=service.outcomes(session, campaign.id),
    )


@router.post("/campaigns/preview", response_model=CampaignPreview, responses=errors(*REFUSALS))
def preview(data: CampaignPreviewIn, session: SessionDep, actor: Manager) -> CampaignPreview:
    """What launching this now would do: the audience, the expected control and treated groups,
    the members skipped and why (no_marketing; the messages' no_consent, no_address,
    frequency_cap), the expected cost and whether it is within the budgets (`budget_ok`)."""
    return service.preview(session, actor, data)


@router.post("/campaigns", response_model=CampaignOut, status_code=201, responses=errors(*REFUSALS))
def create_campaign(data: CampaignIn, session: SessionDep, actor: Manager) -> CampaignOut:
    """A draft campaign: its audience (`segment_id` or `rule`), actions, control share (default
    10%; 0 only with `control_reason`), schedule, attribution window and budgets."""
    return campaign_out(service.create(session, actor, data))


@router.get("/campaigns", response_model=Page[CampaignOut])
def list_campaigns(
    session: SessionDep,
    actor: Viewer,
    status: CampaignStatus | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[CampaignOut]:
    """Campaigns, newest first, optionally of one status."""
    page = service.list_campaigns(session, cursor, limit, status)
    return Page(items=[campaign_out(c) for c in page.items], next_cursor=page.next_cursor)


@router.get(
    "/campaigns/{campaign_id}", response_model=CampaignDetail, responses=errors(CampaignNotFound)
)
def get_campaign(campaign_id: int, session: SessionDep, actor: Viewer) -> CampaignDetail:
    """The campaign, how many members were treated so far, and each action's outcomes (done,
    and skipped by reason, in members and units)."""
    return _detail(session, service.get_campaign(session, campaign_id))


@router.patch(
    "/campaigns/{campaign_id}",
    response_model=CampaignOut,
    responses=errors(CampaignNotFound, CampaignNotEditable, *REFUSALS),
)
def update_campaign(
    campaign_id: int, data: CampaignPatch, session: SessionDep, actor: Manager
) -> CampaignOut:
    """Change a draft or scheduled campaign (409 campaign_not_editable once it runs)."""
    return campaign_out(service.update(session, actor, campaign_id, data))


@router.post(
    "/campaigns/{campaign_id}/launch",
    response_model=CampaignOut,
    status_code=201,
    responses=errors(CampaignNotFound, AlreadyLaunched, BudgetBelowCost, *REFUSALS),
)
def launch_campaign(
    campaign_id: int, session: SessionDep, actor: Manager, once: IdempotentDep
) -> Response:
    """Launch a draft (Idempotency-Key): `scheduled` while `schedule_at` is ahead, else
    `running` at once. The queue then freezes its audience and control group (until then
    `audience_size` and `control_size` are null) and treats its members in batches. A retry
    with the same key answers the same; any other launch of a launched campaign is 409
    already_launched; 422 budget_below_cost when the expected cost exceeds a budget."""
    return once(
        actor,
        _Launch(),
        lambda: campaign_out(service.launch(session, actor, campaign_id)),
    )


@router.post(
    "/campaigns/{campaign_id}/cancel",
    response_model=CampaignOut,
    responses=errors(CampaignNotFound, CampaignNotEditable, ChainWideOnly),
)
def cancel_campaign(campaign_id: int, session: SessionDep, actor: Manager) -> CampaignOut:
    """Stop a draft, scheduled or running campaign; members treated so far keep what they got."""
    return campaign_out(service.cancel(session, actor, campaign_id))


@router.get(
    "/campaigns/{campaign_id}/members",
    response_model=Page[CampaignMemberOut],
    responses=errors(CampaignNotFound),
)
def campaign_members(
    campaign_id: int,
    session: SessionDep,
    actor: Viewer,
    group: Literal["treated", "control"] = "treated",
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[CampaignMemberOut]:
    """The frozen audience's treated or control members, newest member first: when each was
    treated and, for one skipped whole, why (no_marketing, member_inactive)."""
    page = service.group_members(session, campaign_id, group, cursor, limit)
    return Page(
        items=[CampaignMemberOut.model_validate(m, from_attributes=True) for m in page.items],
        next_cursor=page.next_cursor,
    )
