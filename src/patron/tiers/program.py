"""The tier program: the chain's one row of settings (metric, evaluation, grace, downgrade mode,
growth per yuan, growth for actions, staff discount), created with its defaults when first read.
The order path reads it from a per-process cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.ttlcache import TtlCache, drop_on_change
from patron.tiers.models import DowngradeMode, Evaluation, QualifyingMetric, TierProgram
from patron.tiers.permissions import EDIT_PROGRAM

ACTIONS = ("registration", "profile_completed", "check_in")


@dataclass(frozen=True)
class Program:
    """The program as the services read it, detached from any session."""

    metric: str = QualifyingMetric.rolling_12m.value
    evaluation: str = Evaluation.anniversary.value
    grace_days: int = 30
    downgrade: str = DowngradeMode.one_step.value
    growth_per_yuan: int = 1
    action_growth: dict[str, int] = field(default_factory=dict)
    staff_discount: bool = False

    def for_action(self, action: str) -> int:
        return int(self.action_growth.get(action, 0))


FIELDS = tuple(Program.__dataclass_fields__)
_cached: TtlCache[Program] = TtlCache()
drop_on_change(_cached, TierProgram, "after_insert", "after_update", "after_delete")


def program(session: Session) -> Program:
    """The settings, cached for a few seconds; a change made here is seen at once. The defaults
    when the row does not exist yet (nothing is written on a read)."""
    found = _cached.get(1, lambda: _load(session))
    assert found is not None
    return found


def _load(session: Session) -> Program:
    row = session.scalar(select(TierProgram).order_by(TierProgram.id).limit(1))
    if row is None:
        return Program()
    return Program(**{name: getattr(row, name) for name in FIELDS})


def save_program(session: Session, actor: Actor, values: dict[str, Any]) -> Program:
    """Replace the settings with `values` (every field), creating the row when missing."""
    EDIT_PROGRAM.check(actor)
    row = session.scalar(select(TierProgram).order_by(TierProgram.id).limit(1).with_for_update())
    before = None if row is None else {name: getattr(row, name) for name in FIELDS}
    if row is None:
        row = TierProgram()
        session.add(row)
    for name in FIELDS:
        setattr(row, name, values[name])
    session.flush()
    saved = Program(**{name: getattr(row, name) for name in FIELDS})
    audit.record(
        session,
        actor,
        "tiers.program_update",
        "tier_program",
        row.id,
        before=before,
        after={name: getattr(row, name) for name in FIELDS},
    )
    return saved
