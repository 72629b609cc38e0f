"""The coupon preview: what each code would take off an order, writing nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.coupons import evaluator, redemption
from patron.coupons.evaluation_schemas import CouponOutcomeOut, EvaluateIn, EvaluateOut
from patron.deps import OneHopRouter, SessionDep, require
from patron.orders import permissions

router = OneHopRouter(tags=["coupons"])
Till = Annotated[Actor, Depends(require(permissions.RECORD))]


@router.post("/coupons/evaluate", response_model=EvaluateOut)
def evaluate_coupons(data: EvaluateIn, session: SessionDep, actor: Till) -> EvaluateOut:
    if not actor.sees_store(data.store_id):
        raise InvalidInput(
            "store_id", f"no store {data.store_id} in your scope", code=Reason.unknown_store
        )
    lines = [
        evaluator.Line(ln.sku, ln.category_code, ln.quantity, ln.unit_price, ln.amount)
        for ln in data.lines
    ]
    where = redemption.context(
        data.member_id,
        data.store_id,
        data.channel.value,
        data.occurred_at or clock.now(),
        points_pay=data.points_pay,
        tier_discount=data.tier_discount,
    )
    outcomes = redemption.preview(session, list(dict.fromkeys(data.codes)), lines, where)
    chosen = evaluator.best((h.terms, o) for h, o in outcomes.values() if h is not None)
    return EvaluateOut(
        coupons=[
            CouponOutcomeOut(
                code=code,
                applies=outcome.applies,
                discount=outcome.discount,
                reason=outcome.refusal.value if outcome.refusal else None,
                unavailable=bool(outcome.refusal and outcome.refusal.unavailable),
            )
            for code, (_, outcome) in outcomes.items()
        ],
        best=chosen.code if chosen else None,
    )
