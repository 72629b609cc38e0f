"""Earning rules: saving, reading and deleting them."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.points.errors import RuleInUse, RuleNotFound
from patron.points.models import (
    PointsRule,
    RuleAward,
)


def active_rules(session: Session) -> list[PointsRule]:
    return list(session.scalars(select(PointsRule).where(PointsRule.active.is_(True))))


def save_rule(
    session: Session, actor: Actor, values: dict[str, Any], rule_id: int | None = None
) -> PointsRule:
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
