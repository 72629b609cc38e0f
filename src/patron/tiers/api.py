from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response
from sqlalchemy import select

from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page, paginate
from patron.deps import IdempotentDep, OneHopRouter, SessionDep, require
from patron.members import errors as member_errors
from patron.members import visibility
from patron.tiers import (
    ladder,
    member_view,
    paid,
    permissions,
    program,
    standing,
)
from patron.tiers.errors import TierNotFound
from patron.tiers.models import GrowthEntry, Tier, TierChange
from patron.tiers.schemas import (
    GrowthEntryOut,
    MemberTierOut,
    PaidMembershipIn,
    PaidMembershipOut,
    PaidPlanIn,
    PaidPlanOut,
    PaidPlanUpdate,
    ProgramIn,
    ProgramOut,
    TierChangeOut,
    TierIn,
    TierOut,
    TierSetIn,
    TierUpdate,
    tier_values,
)

router = OneHopRouter(tags=["tiers"])
Viewer = Annotated[Actor, Depends(require(permissions.VIEW))]
ProgramViewer = Annotated[Actor, Depends(require(permissions.VIEW_PROGRAM))]
ProgramEditor = Annotated[Actor, Depends(require(permissions.EDIT_PROGRAM))]
Designer = Annotated[Actor, Depends(require(permissions.EDIT_LADDER))]
Setter = Annotated[Actor, Depends(require(permissions.SET_TIER))]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/tier-program", response_model=ProgramOut)
def get_program(session: SessionDep, actor: ProgramViewer) -> ProgramOut:
    """The program's settings (the defaults until HQ saves them)."""
    return ProgramOut.model_validate(program.program(session))


@router.put("/tier-program", response_model=ProgramOut)
def put_program(data: ProgramIn, session: SessionDep, actor: ProgramEditor) -> ProgramOut:
    return ProgramOut.model_validate(program.save_program(session, actor, data.model_dump()))


@router.get("/tiers", response_model=list[TierOut])
def list_tiers(session: SessionDep, actor: Viewer) -> list[TierOut]:
    """The ladder by rank; empty: tiers are off."""
    return [TierOut.of(t) for t in ladder.list_tiers(session)]


@router.post("/tiers", response_model=TierOut, status_code=201)
def create_tier(data: TierIn, session: SessionDep, actor: Designer) -> TierOut:
    return TierOut.of(ladder.save_tier(session, actor, tier_values(data, partial=False)))


@router.get("/tiers/{tier_id}", response_model=TierOut, responses=errors(TierNotFound))
def get_tier(tier_id: int, session: SessionDep, actor: Viewer) -> TierOut:
    return TierOut.of(ladder.get_tier(session, tier_id))


@router.patch("/tiers/{tier_id}", response_model=TierOut, responses=errors(TierNotFound))
def update_tier(tier_id: int, data: TierUpdate, session: SessionDep, actor: Designer) -> TierOut:
    values = tier_values(data, partial=True)
    return TierOut.of(ladder.save_tier(session, actor, values, tier_id))


@router.get(
    "/members/{member_id}/tier",
    response_model=MemberTierOut,
    responses=errors(member_errors.MemberNotFound),
)
def member_tier(member_id: int, session: SessionDep, actor: Viewer) -> MemberTierOut:
    member = visibility.get_member(session, actor, member_id)
    return member_view.member_tier(session, member)


@router.post(
    "/members/{member_id}/tier",
    response_model=MemberTierOut,
    responses=errors(member_errors.MemberNotFound, member_errors.MemberNotActive),
)
def set_member_tier(
    member_id: int, data: TierSetIn, session: SessionDep, actor: Setter
) -> MemberTierOut:
    """HQ sets the member's tier by hand, with a reason (history `manual`, audited); the review
    date starts again."""
    member = visibility.get_active_member(session, actor, member_id)
    standing.set_tier(session, actor, member.id, data.tier_code, data.reason)
    return member_view.member_tier(session, member)


@router.get(
    "/members/{member_id}/tier/history",
    response_model=Page[TierChangeOut],
    responses=errors(member_errors.MemberNotFound),
)
def member_tier_history(
    member_id: int, session: SessionDep, actor: Viewer, cursor: str | None = None, limit: Limit = 50
) -> Page[TierChangeOut]:
    member = visibility.get_member(session, actor, member_id)
    page = paginate(
        session,
        select(TierChange).where(TierChange.member_id == member.id),
        TierChange.id,
        cursor,
        limit,
    )
    codes = dict(session.execute(select(Tier.id, Tier.code)).all())
    return Page(
        items=[
            TierChangeOut(
                id=c.id,
                from_tier=codes.get(c.from_tier_id) if c.from_tier_id else None,
                to_tier=codes[c.to_tier_id],
                reason=c.reason,
                qualifying_growth=c.qualifying_growth,
                operator=c.operator,
                note=c.note,
                created_at=c.created_at,
            )
            for c in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/members/{member_id}/growth/entries",
    response_model=Page[GrowthEntryOut],
    responses=errors(member_errors.MemberNotFound),
)
def member_growth_entries(
    member_id: int, session: SessionDep, actor: Viewer, cursor: str | None = None, limit: Limit = 50
) -> Page[GrowthEntryOut]:
    """The member's growth ledger, newest first."""
    member = visibility.get_member(session, actor, member_id)
    page = paginate(
        session,
        select(GrowthEntry).where(GrowthEntry.member_id == member.id),
        GrowthEntry.id,
        cursor,
        limit,
    )
    return Page(
        items=[GrowthEntryOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )


# --- paid membership (付费会员) ---------------------------------------------------------------

PlanEditor = Annotated[Actor, Depends(require(paid.EDIT_PLANS))]
PaymentRecorder = Annotated[Actor, Depends(require(paid.RECORD_PAYMENT))]


@router.get("/paid-plans", response_model=list[PaidPlanOut])
def list_paid_plans(session: SessionDep, actor: Viewer) -> list[PaidPlanOut]:
    return [PaidPlanOut.model_validate(p) for p in paid.list_plans(session)]


@router.post("/paid-plans", response_model=PaidPlanOut, status_code=201)
def create_paid_plan(data: PaidPlanIn, session: SessionDep, actor: PlanEditor) -> PaidPlanOut:
    return PaidPlanOut.model_validate(paid.save_plan(session, actor, data.model_dump()))


@router.get(
    "/paid-plans/{plan_id}", response_model=PaidPlanOut, responses=errors(paid.PaidPlanNotFound)
)
def get_paid_plan(plan_id: int, session: SessionDep, actor: Viewer) -> PaidPlanOut:
    return PaidPlanOut.model_validate(paid.get_plan(session, plan_id))


@router.patch(
    "/paid-plans/{plan_id}", response_model=PaidPlanOut, responses=errors(paid.PaidPlanNotFound)
)
def update_paid_plan(
    plan_id: int, data: PaidPlanUpdate, session: SessionDep, actor: PlanEditor
) -> PaidPlanOut:
    values = data.model_dump(exclude_unset=True)
    return PaidPlanOut.model_validate(paid.save_plan(session, actor, values, plan_id))


@router.post(
    "/members/{member_id}/paid-memberships",
    response_model=PaidMembershipOut,
    status_code=201,
    responses=errors(
        member_errors.MemberNotFound,
        member_errors.MemberNotActive,
        paid.PaidPlanNotFound,
        paid.PaidPlanNotActive,
    ),
)
def record_paid_membership(
    member_id: int,
    data: PaidMembershipIn,
    session: SessionDep,
    actor: PaymentRecorder,
    once: IdempotentDep,
) -> Response:
    """A paid term from an external payment notice (Idempotency-Key): from now, or from the end
    of the member's running term of the plan (a renewal extends it)."""

    def work() -> PaidMembershipOut:
        member = visibility.get_active_member(session, actor, member_id)
        payment = paid.Payment(
            data.plan_id, data.payment.method, data.payment.reference, data.auto_renew
        )
        return PaidMembershipOut.model_validate(paid.pay(session, actor, member.id, payment))

    return once(actor, data, work)


@router.get(
    "/members/{member_id}/paid-memberships",
    response_model=list[PaidMembershipOut],
    responses=errors(member_errors.MemberNotFound),
)
def member_paid_memberships(
    member_id: int, session: SessionDep, actor: Viewer
) -> list[PaidMembershipOut]:
    """The member's paid terms, latest first."""
    member = visibility.get_member(session, actor, member_id)
    return [PaidMembershipOut.model_validate(m) for m in paid.memberships_of(session, member.id)]
