from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import Depends

from patron.core import clock
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.deps import ActorDep, OneHopRouter, SessionDep, require
from patron.members import visibility
from patron.members.errors import MemberNotFound
from patron.profiles import permissions, service
from patron.profiles.errors import ClvNotFitted
from patron.profiles.schemas import ClvFitOut, ClvOut, NamedOut, ProfileOut, RfmOut

router = OneHopRouter(tags=["profiles"])
Analyst = Annotated[Actor, Depends(require(permissions.ANALYTICS))]


@router.get(
    "/members/{member_id}/profile", response_model=ProfileOut, responses=errors(MemberNotFound)
)
def member_profile(member_id: int, session: SessionDep, actor: ActorDep) -> ProfileOut:
    """The member's profile as of the last refresh (nightly), its raw facts kept current within
    minutes: what, where, how often and how much they buy, RFM, lifecycle and predicted value.
    Store staff read the profiles of the members they may read."""
    visibility.get_member(session, actor, member_id)
    view = service.member_profile(session, member_id, clock.now())

    def named(items: list[service.Named]) -> list[NamedOut]:
        return [NamedOut(**asdict(item)) for item in items]

    return ProfileOut(
        member_id=view.member_id,
        first_purchase_at=view.first_purchase_at,
        last_purchase_at=view.last_purchase_at,
        recency_days=view.recency_days,
        orders_lifetime=view.orders_lifetime,
        monetary_lifetime=view.monetary_lifetime,
        orders_window=view.orders_window,
        monetary_window=view.monetary_window,
        window_days=view.window_days,
        aov=view.aov,
        purchase_days=view.purchase_days,
        lifecycle=view.lifecycle,
        rfm=RfmOut.model_validate(
            {"r": view.rfm_r, "f": view.rfm_f, "m": view.rfm_m, "class": view.rfm_class}
        ),
        clv=ClvOut(
            p_alive=view.p_alive,
            expected_purchases_365=view.expected_purchases_365,
            clv_365=view.clv_365,
        ),
        preferred_stores=named(view.preferred_stores),
        preferred_channels=view.preferred_channels,
        preferred_categories=named(view.preferred_categories),
        preferred_weekday=view.preferred_weekday,
        preferred_hour=view.preferred_hour,
        similar_categories=named(view.similar_categories),
        facts_at=view.facts_at,
        refreshed_at=view.refreshed_at,
    )


@router.get("/analytics/clv", response_model=ClvFitOut, responses=errors(ClvNotFitted))
def clv_model(session: SessionDep, actor: Analyst) -> ClvFitOut:
    """The CLV model of the last refresh: BG/NBD (purchases; time unit: day) and Gamma-Gamma
    (value per purchase, fen), the customers it was fitted on and the data's cutoff."""
    fit = service.latest_fit(session)
    if fit is None:
        raise ClvNotFitted("no CLV model has been fitted yet (patron profiles refresh)")
    return ClvFitOut.model_validate(fit, from_attributes=True)
