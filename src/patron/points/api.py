from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response

from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import Conflict, InvalidInput
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.core.reasons import Reason
from patron.deps import ActorDep, IdempotentDep, OneHopRouter, SessionDep, require
from patron.members import errors as member_errors
from patron.members import registry, visibility
from patron.points import adjustments, burning, permissions
from patron.points import earning as points_earning
from patron.points import policy as points_policy
from patron.points import queries as points_queries
from patron.points import rules as points_rules
from patron.points.earning import LineFacts, OrderFacts
from patron.points.errors import AdjustmentNotFound, InsufficientPoints, RuleInUse, RuleNotFound
from patron.points.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    BalanceOut,
    BurnIn,
    EntryOut,
    ExpiringOut,
    FiredOut,
    LiabilityOut,
    PolicyOut,
    PolicyUpdate,
    PreviewIn,
    PreviewOut,
    RuleIn,
    RuleOut,
)

router = OneHopRouter(tags=["points"])
Programmer = Annotated[Actor, Depends(require(permissions.EDIT_RULES))]
HeadOffice = Annotated[Actor, Depends(require(permissions.VIEW_PROGRAM))]
Till = Annotated[Actor, Depends(require(permissions.BURN))]
Approver = Annotated[Actor, Depends(require(permissions.DECIDE_ADJUSTMENT))]
Requester = Annotated[Actor, Depends(require(permissions.REQUEST_ADJUSTMENT))]


@router.get("/points/policy", response_model=PolicyOut)
def get_policy(session: SessionDep, actor: ActorDep) -> PolicyOut:
    return PolicyOut.model_validate(points_policy.get_policy(session))


@router.patch("/points/policy", response_model=PolicyOut)
def update_policy(
    data: PolicyUpdate,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.EDIT_POLICY))],
) -> PolicyOut:
    return PolicyOut.model_validate(points_policy.update_policy(session, actor, data.changes()))


def _rule_out(rule: Any) -> RuleOut:
    return RuleOut.model_validate({k: getattr(rule, k) for k in RuleOut.model_fields})


@router.get("/points/rules", response_model=list[RuleOut])
def list_rules(session: SessionDep, actor: HeadOffice) -> list[RuleOut]:
    return [_rule_out(r) for r in points_rules.list_rules(session)]


@router.post("/points/rules", response_model=RuleOut, status_code=201)
def create_rule(data: RuleIn, session: SessionDep, actor: Programmer) -> RuleOut:
    return _rule_out(points_rules.save_rule(session, actor, data.model_dump(mode="json")))


@router.get("/points/rules/{rule_id}", response_model=RuleOut, responses=errors(RuleNotFound))
def get_rule(rule_id: int, session: SessionDep, actor: HeadOffice) -> RuleOut:
    return _rule_out(points_rules.get_rule(session, rule_id))


@router.delete(
    "/points/rules/{rule_id}", status_code=204, responses=errors(RuleNotFound, RuleInUse)
)
def delete_rule(rule_id: int, session: SessionDep, actor: Programmer) -> None:
    """Only a rule that never awarded points; switch a used one off with `active: false`."""
    points_rules.delete_rule(session, actor, rule_id)


@router.put("/points/rules/{rule_id}", response_model=RuleOut, responses=errors(RuleNotFound))
def replace_rule(rule_id: int, data: RuleIn, session: SessionDep, actor: Programmer) -> RuleOut:
    return _rule_out(points_rules.save_rule(session, actor, data.model_dump(mode="json"), rule_id))


@router.post("/points/preview", response_model=PreviewOut)
def preview(data: PreviewIn, session: SessionDep, actor: ActorDep) -> PreviewOut:
    """The points an order would earn now, without writing anything."""
    try:
        visibility.get_active_member(session, actor, data.member_id)
    except member_errors.MemberNotFound as exc:
        raise InvalidInput(
            "member_id", f"no active member {data.member_id}", code=Reason.unknown_member
        ) from exc
    payments: dict[str, int] = {}
    for payment in data.payments:
        payments[payment.method.value] = payments.get(payment.method.value, 0) + payment.amount
    facts = OrderFacts(
        order_id=None,
        member_id=data.member_id,
        store_id=data.store_id,
        channel=data.channel.value,
        occurred_at=data.occurred_at or clock.now(),
        total=sum(i.paid for i in data.items),
        payments=payments,
        lines=tuple(LineFacts(None, i.sku, None, i.quantity, i.paid) for i in data.items),
    )
    facts = points_earning.with_catalog(session, facts)
    earning = points_earning.preview(
        session, facts, points_earning.member_facts(session, [data.member_id])[data.member_id]
    )
    rules = [FiredOut(rule_id=None, name="base", points=earning.base)]
    rules += [FiredOut(rule_id=f.rule_id, name=f.name, points=f.points) for f in earning.fired]
    return PreviewOut(base=earning.base, rules=rules, total=earning.total)


@router.get(
    "/members/{member_id}/points",
    response_model=BalanceOut,
    responses=errors(member_errors.MemberNotFound),
)
def member_points(member_id: int, session: SessionDep, actor: ActorDep) -> BalanceOut:
    member = visibility.get_member(session, actor, member_id)
    now = points_queries.balance(session, member.id)
    return BalanceOut(
        member_id=member.id,
        available=now.available,
        pending=now.pending,
        debt=now.debt,
        expiring=[ExpiringOut(expires_at=at, points=points) for at, points in now.expiring],
    )


@router.get(
    "/members/{member_id}/points/entries",
    response_model=Page[EntryOut],
    responses=errors(member_errors.MemberNotFound),
)
def member_entries(
    member_id: int,
    session: SessionDep,
    actor: ActorDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[EntryOut]:
    member = visibility.get_member(session, actor, member_id)
    page = points_queries.entries(session, member.id, cursor, limit)
    return Page(
        items=[EntryOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/members/{member_id}/points/burns",
    response_model=EntryOut,
    status_code=201,
    responses=errors(member_errors.MemberNotFound, InsufficientPoints),
)
def burn_points(
    member_id: int,
    data: BurnIn,
    session: SessionDep,
    actor: Till,
    once: IdempotentDep,
) -> Response:
    def work() -> EntryOut:
        visibility.get_active_member(session, actor, member_id)
        entry = burning.burn(
            session, actor, member_id, data.points, data.reason, data.order_id, data.store_id
        )
        return EntryOut.model_validate(entry)

    return once(actor, data, work)


@router.post(
    "/members/{member_id}/points/adjustments",
    response_model=AdjustmentOut,
    status_code=201,
    responses=errors(
        member_errors.MemberNotFound, member_errors.MemberNotActive, InsufficientPoints
    ),
)
def adjust_points(
    member_id: int,
    data: AdjustmentIn,
    session: SessionDep,
    actor: Requester,
    once: IdempotentDep,
) -> Response:
    def work() -> AdjustmentOut:
        member = registry.get_active_member(session, actor, member_id)
        adjustment = adjustments.request_adjustment(
            session, actor, member.id, data.points, data.reason, data.store_id
        )
        return AdjustmentOut.model_validate(adjustment)

    return once(actor, data, work)


@router.get("/points/adjustments", response_model=list[AdjustmentOut])
def pending_adjustments(session: SessionDep, actor: HeadOffice) -> list[AdjustmentOut]:
    return [AdjustmentOut.model_validate(a) for a in adjustments.pending_adjustments(session)]


@router.post(
    "/points/adjustments/{adjustment_id}/approve",
    response_model=AdjustmentOut,
    responses=errors(AdjustmentNotFound, Conflict, InsufficientPoints),
)
def approve(adjustment_id: int, session: SessionDep, actor: Approver) -> AdjustmentOut:
    return AdjustmentOut.model_validate(
        adjustments.decide_adjustment(session, actor, adjustment_id, approve=True)
    )


@router.post(
    "/points/adjustments/{adjustment_id}/reject",
    response_model=AdjustmentOut,
    responses=errors(AdjustmentNotFound, Conflict),
)
def reject(adjustment_id: int, session: SessionDep, actor: Approver) -> AdjustmentOut:
    return AdjustmentOut.model_validate(
        adjustments.decide_adjustment(session, actor, adjustment_id, approve=False)
    )


@router.get("/points/liability", response_model=LiabilityOut)
def liability(
    session: SessionDep, actor: Annotated[Actor, Depends(require(permissions.VIEW_LIABILITY))]
) -> LiabilityOut:
    report = points_queries.liability(session)
    return LiabilityOut(
        points=report.points,
        cash_value_fen=report.cash_value_fen,
        by_expiry_month=report.by_expiry_month,
        by_store={str(k) if k is not None else "none": v for k, v in report.by_store.items()},
    )
