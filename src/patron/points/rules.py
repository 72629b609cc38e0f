"""Earning rules: saving, reading and deleting them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.ttlcache import TtlCache, drop_on_change
from patron.points.errors import RuleInUse, RuleNotFound
from patron.points.models import (
    PointsRule,
    RuleAward,
)


@dataclass(frozen=True)
class Rule:
    """An active earning rule as earning reads it, detached from any session."""

    id: int
    name: str
    active: bool
    priority: int
    stackable: bool
    conditions: dict[str, Any]
    effect: str
    amount: int
    cap_per_order: int | None
    cap_per_member_day: int | None


RULE_FIELDS = tuple(Rule.__dataclass_fields__)
_active: TtlCache[tuple[Rule, ...]] = TtlCache()
drop_on_change(_active, PointsRule, "after_insert", "after_update", "after_delete")


def active_rules(session: Session) -> tuple[Rule, ...]:
    """The active rules, cached for a few seconds; a change made here is seen at once."""
    rules = _active.get(1, lambda: _load_active(session))
    assert rules is not None
    return rules


def _load_active(session: Session) -> tuple[Rule, ...]:
    columns = [getattr(PointsRule, name) for name in RULE_FIELDS]
    rows = session.execute(select(*columns).where(PointsRule.active.is_(True)))
    return tuple(Rule(*row) for row in rows)


def save_rule(
    session: Session, actor: Actor, values: dict[str, Any], rule_id: int | None = None
) -> PointsRule:
    _check_tiers(session, (values.get("conditions") or {}).get("tiers") or [])
    if rule_id is None:
        rule = PointsRule(**values)
        session.add(rule)
    else:
        rule = get_rule(session, rule_id)
        for field, value in values.items():
            setattr(rule, field, value)
    session.flush()
    audit.record(
        session,
        actor,
        "points.rule_" + ("create" if rule_id is None else "update"),
        "points_rule",
        rule.id,
        after=_jsonable(values),
    )
    return rule


def _check_tiers(session: Session, codes: list[str]) -> None:
    """A tier condition names tiers of the ladder."""
    if not codes:
        return
    # Tiers build on points (gifts grant points): read the ladder late.
    from patron.tiers.ladder import ladder

    known = {rung.code for rung in ladder(session)}
    for index, code in enumerate(codes):
        if code not in known:
            raise InvalidInput(
                f"conditions.tiers.{index}", f"no tier {code}", code=Reason.unknown_tier
            )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def get_rule(session: Session, rule_id: int) -> PointsRule:
    rule = session.get(PointsRule, rule_id)
    if rule is None:
        raise RuleNotFound(f"no points rule {rule_id}")
    return rule


def delete_rule(session: Session, actor: Actor, rule_id: int) -> None:
    """A rule that never awarded anything goes; one that did stays, for the ledger's sake (its
    earn entries name it), and is switched off instead."""
    rule = get_rule(session, rule_id)
    # Every firing leaves an award row (they count toward daily caps), so this is the record.
    fired = session.scalar(select(func.count()).where(RuleAward.rule_id == rule_id)) or 0
    if fired:
        raise RuleInUse(f"rule {rule_id} has awarded points; set active to false instead")
    before = {"name": rule.name, "effect": rule.effect, "amount": rule.amount}
    session.delete(rule)
    session.flush()
    audit.record(session, actor, "points.rule_delete", "points_rule", rule_id, before=before)


def list_rules(session: Session) -> list[PointsRule]:
    return list(
        session.scalars(select(PointsRule).order_by(PointsRule.priority.desc(), PointsRule.id))
    )
