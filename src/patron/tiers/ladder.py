"""The ladder: tiers ordered by rank, rank 0 the base tier every member holds. Saving a tier
checks the whole ladder as it would stand: rank 0 present with entry threshold 0, ranks and codes
unique, entry thresholds strictly rising with rank, retention within entry, gifts naming coupon
templates that exist. With no tier at all, tiers are off: orders earn no growth and hold no
tier. The order path reads the ladder from a per-process cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.ttlcache import TtlCache, drop_on_change
from patron.coupons.errors import TemplateNotFound
from patron.coupons.templates import get_template
from patron.tiers.errors import TierNotFound
from patron.tiers.models import Tier
from patron.tiers.permissions import EDIT_LADDER


@dataclass(frozen=True)
class Rung:
    """A tier as the services read it, detached from any session."""

    id: int
    code: str
    name: str
    name_en: str
    rank: int
    entry_threshold: int
    retention_threshold: int
    discount_percent: int
    points_factor: int  # hundredths: 150 = ×1.5
    upgrade_gift: dict[str, Any]
    birthday_gift: dict[str, Any]


RUNG_FIELDS = tuple(Rung.__dataclass_fields__)
EDITABLE = RUNG_FIELDS[1:]
DEFAULTS: dict[str, Any] = {
    "name_en": "",
    "entry_threshold": 0,
    "retention_threshold": 0,
    "discount_percent": 0,
    "points_factor": 100,
    "upgrade_gift": {},
    "birthday_gift": {},
}
_cached: TtlCache[tuple[Rung, ...]] = TtlCache()
drop_on_change(_cached, Tier, "after_insert", "after_update", "after_delete")


def ladder(session: Session) -> tuple[Rung, ...]:
    """Every tier by rank, cached for a few seconds; a change made here is seen at once. Empty:
    tiers are off."""
    rungs = _cached.get(1, lambda: _load(session))
    assert rungs is not None
    return rungs


def _load(session: Session) -> tuple[Rung, ...]:
    columns = [getattr(Tier, name) for name in RUNG_FIELDS]
    return tuple(Rung(*row) for row in session.execute(select(*columns).order_by(Tier.rank)))


def base(rungs: Sequence[Rung]) -> Rung | None:
    """The base tier (rank 0), or None when tiers are off."""
    return rungs[0] if rungs and rungs[0].rank == 0 else None


def by_id(rungs: Sequence[Rung], tier_id: int | None) -> Rung | None:
    return next((r for r in rungs if r.id == tier_id), None)


def by_code(rungs: Sequence[Rung], code: str) -> Rung | None:
    return next((r for r in rungs if r.code == code), None)


def earned(rungs: Sequence[Rung], qualifying: int) -> Rung | None:
    """The highest tier whose entry threshold `qualifying` growth reaches."""
    reached = [r for r in rungs if r.entry_threshold <= qualifying]
    return reached[-1] if reached else None


def above(rungs: Sequence[Rung], rank: int) -> Rung | None:
    """The next tier up from `rank`, or None at the top."""
    return next((r for r in rungs if r.rank > rank), None)


def get_tier(session: Session, tier_id: int) -> Tier:
    tier = session.get(Tier, tier_id)
    if tier is None:
        raise TierNotFound(f"no tier {tier_id}")
    return tier


def list_tiers(session: Session) -> list[Tier]:
    return list(session.scalars(select(Tier).order_by(Tier.rank)))


def save_tier(
    session: Session, actor: Actor, values: dict[str, Any], tier_id: int | None = None
) -> Tier:
    """Create a tier, or change the given fields of one; the ladder must hold after it."""
    EDIT_LADDER.check(actor)
    for name, value in values.items():
        if value is None:
            raise InvalidInput(name, "cannot be null", code=Reason.missing)
    tier = Tier(**DEFAULTS) if tier_id is None else get_tier(session, tier_id)
    before = None if tier_id is None else _snapshot(tier)
    others = [t for t in list_tiers(session) if t.id != tier_id]
    _check_ladder(SimpleNamespace(**(_snapshot(tier) | values)), others)
    _check_gifts(session, values)
    for name, value in values.items():
        setattr(tier, name, value)
    session.add(tier)
    session.flush()
    audit.record(
        session,
        actor,
        "tiers.tier_create" if before is None else "tiers.tier_update",
        "tier",
        tier.id,
        before=before,
        after=_snapshot(tier),
    )
    return tier


def _snapshot(tier: Tier) -> dict[str, Any]:
    return {name: getattr(tier, name) for name in EDITABLE}


def _check_ladder(tier: Any, others: list[Tier]) -> None:
    for other in others:
        if other.code == tier.code:
            raise InvalidInput("code", f"tier {tier.code} exists", code=Reason.tier_code_taken)
        if other.rank == tier.rank:
            raise InvalidInput(
                "rank", f"tier {other.code} has rank {tier.rank}", code=Reason.tier_rank_taken
            )
    if tier.retention_threshold > tier.entry_threshold:
        raise InvalidInput(
            "retention_threshold",
            f"exceeds the entry threshold {tier.entry_threshold}",
            code=Reason.retention_above_entry,
        )
    if tier.rank == 0 and tier.entry_threshold != 0:
        raise InvalidInput(
            "entry_threshold", "the base tier (rank 0) is entered at 0", code=Reason.base_tier_entry
        )
    if tier.rank != 0 and not any(o.rank == 0 for o in others):
        raise InvalidInput(
            "rank", "the ladder starts with its base tier, rank 0", code=Reason.base_tier_missing
        )
    for other in others:
        lower, higher = (other, tier) if other.rank < tier.rank else (tier, other)
        if lower.entry_threshold >= higher.entry_threshold:
            raise InvalidInput(
                "entry_threshold",
                f"tier {other.code} (rank {other.rank}) is entered at {other.entry_threshold}:"
                " entry thresholds rise strictly with rank",
                code=Reason.thresholds_not_rising,
            )


def _check_gifts(session: Session, values: dict[str, Any]) -> None:
    for gift in ("upgrade_gift", "birthday_gift"):
        for index, coupon in enumerate((values.get(gift) or {}).get("coupons") or []):
            try:
                get_template(session, coupon["template_id"])
            except TemplateNotFound as exc:
                raise InvalidInput(
                    f"{gift}.coupons.{index}.template_id",
                    f"no coupon template {coupon['template_id']}",
                    code=Reason.unknown_template,
                ) from exc
