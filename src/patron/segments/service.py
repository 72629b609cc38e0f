"""Counting and previewing the members a rule matches, in the caller's stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from patron.core.actor import Actor
from patron.segments import compiler, rules
from patron.segments.rules import Rule

SAMPLE_SIZE = 20


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[int]


def _rule(text_or_rule: str | Rule) -> Rule:
    return rules.parse(text_or_rule) if isinstance(text_or_rule, str) else text_or_rule


def member_ids(
    session: Session, actor: Actor, text_or_rule: str | Rule, now: datetime
) -> Select[int]:
    """The rule's query, limited to the caller's stores' members when it is store-scoped."""
    return compiler.member_ids(session, _rule(text_or_rule), now, actor.store_ids)


def count(session: Session, actor: Actor, text_or_rule: str | Rule, now: datetime) -> int:
    query = member_ids(session, actor, text_or_rule, now).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


def preview(session: Session, actor: Actor, text: str, now: datetime) -> Preview:
    """The count and the first SAMPLE_SIZE member ids; InvalidRule when the rule is invalid."""
    rule = rules.parse(text)
    query = member_ids(session, actor, rule, now)
    sample = list(session.scalars(query.order_by(compiler.Member.id).limit(SAMPLE_SIZE)))
    total = len(sample) if len(sample) < SAMPLE_SIZE else count(session, actor, rule, now)
    return Preview(total, sample)
