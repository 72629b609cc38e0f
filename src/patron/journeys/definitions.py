"""A journey's steps as a graph: where each step leads, whether the definition holds together
(every key it names exists, no loop that never waits, every template and tag it names exists),
and when a wait ends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.coupons import templates as coupon_templates
from patron.coupons.errors import TemplateNotFound
from patron.journeys.schemas import Definition
from patron.messages import service as messages
from patron.messages.errors import MessageTemplateNotFound
from patron.messages.kinds import Channel
from patron.segments import rules
from patron.segments.rules import InvalidRule
from patron.tags import service as tags
from patron.tags.models import TagKind

StepDict = Mapping[str, Any]


def stored(definition: Definition) -> dict[str, Any]:
    """The version's columns for a checked definition, as JSON."""
    dumped = definition.model_dump(mode="json", exclude_none=True)
    return {
        "trigger": dumped["trigger"],
        "entry_limit": definition.entry_limit,
        "entry_days": definition.entry_days if definition.entry_limit == "every_n_days" else None,
        "control_percent": definition.control_percent,
        "goal": dumped.get("goal"),
        "steps": dumped["steps"],
    }


def by_key(steps: Sequence[StepDict]) -> dict[str, StepDict]:
    return {step["key"]: step for step in steps}


def following(steps: Sequence[StepDict]) -> dict[str, str | None]:
    """Each step's `next`: as named, else the step after it in the list (None: the end)."""
    result: dict[str, str | None] = {}
    for index, step in enumerate(steps):
        after = steps[index + 1]["key"] if index + 1 < len(steps) else None
        result[step["key"]] = step.get("next", after)
    return result


def successors(steps: Sequence[StepDict]) -> dict[str, list[str]]:
    """Where each step may lead (an exit leads nowhere)."""
    nexts = following(steps)
    result: dict[str, list[str]] = {}
    for step in steps:
        key = step["key"]
        if step["type"] == "exit":
            result[key] = []
        elif step["type"] == "branch":
            result[key] = [step["yes"], step["no"]]
        else:
            result[key] = [k for k in (nexts[key],) if k is not None]
    return result


def wait_until(step: StepDict, now: datetime) -> datetime:
    """When a wait that starts at `now` ends: after its duration, or at the next `until_hour`
    o'clock on the business clock (later today, else tomorrow)."""
    hour = step.get("until_hour")
    if hour is None:
        return now + timedelta(
            days=step.get("days", 0), hours=step.get("hours", 0), minutes=step.get("minutes", 0)
        )
    local = now.astimezone(clock.business_tz())
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at <= local:
        at = (local + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return at


def check(session: Session, definition: Definition) -> None:
    """Refuse (422, the field and a stable code) a definition that does not hold together."""
    if definition.entry_limit == "every_n_days" and definition.entry_days is None:
        raise InvalidInput(
            "entry_days", "every_n_days needs entry_days", code=Reason.entry_days_needed
        )
    steps = [step.model_dump(mode="json", exclude_none=True) for step in definition.steps]
    seen: set[str] = set()
    for index, step in enumerate(steps):
        if step["key"] in seen:
            raise InvalidInput(
                f"steps[{index}].key", f"{step['key']!r} is used twice", code=Reason.step_key_taken
            )
        seen.add(step["key"])
    for index, step in enumerate(steps):
        for name in ("next", "yes", "no"):
            if name in step and step[name] not in seen:
                raise InvalidInput(
                    f"steps[{index}].{name}",
                    f"no step is keyed {step[name]!r}",
                    code=Reason.unknown_step,
                )
    _check_loops(steps)
    for index, step in enumerate(steps):
        _check_names(session, f"steps[{index}]", step)


def _check_loops(steps: list[dict[str, Any]]) -> None:
    """A loop must pass a wait: otherwise the runner would walk it forever within one tick."""
    kinds = {step["key"]: step["type"] for step in steps}
    graph = {
        key: [k for k in nexts if kinds[k] != "wait"]
        for key, nexts in successors(steps).items()
        if kinds[key] != "wait"
    }
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def visit(key: str) -> str | None:
        state[key] = 1
        for nxt in graph[key]:
            if state.get(nxt) == 1:
                return nxt
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        state[key] = 2
        return None

    for key in graph:
        if key not in state and (found := visit(key)) is not None:
            index = next(i for i, step in enumerate(steps) if step["key"] == found)
            raise InvalidInput(
                f"steps[{index}]",
                f"the steps loop back to {found!r} without a wait",
                code=Reason.loop_without_wait,
            )


def _check_names(session: Session, field: str, step: dict[str, Any]) -> None:
    if "rule" in step:
        try:
            rules.parse(step["rule"])
        except InvalidRule as exc:
            raise InvalidInput(f"{field}.rule", exc.detail, code=Reason.invalid_rule) from exc
    action = step.get("action")
    if action == "issue_coupon":
        try:
            coupon_templates.get_template(session, step["template_id"])
        except TemplateNotFound as exc:
            raise InvalidInput(
                f"{field}.template_id",
                f"no coupon template {step['template_id']}",
                code=Reason.unknown_template,
            ) from exc
    elif action == "send_message":
        try:
            messages.get_template(session, step["template"], Channel(step["channel"]))
        except MessageTemplateNotFound as exc:
            raise InvalidInput(
                f"{field}.template", exc.detail, code=Reason.unknown_template
            ) from exc
    elif action in ("tag_add", "tag_remove"):
        tag = tags.find_tag(session, step["tag"])
        if tag is None:
            raise InvalidInput(
                f"{field}.tag", f"no tag named {step['tag']!r}", code=Reason.unknown_tag
            )
        if tag.kind == TagKind.rule:
            raise InvalidInput(
                f"{field}.tag",
                f"{step['tag']!r} is a rule tag: its rule chooses its members",
                code=Reason.rule_tag_is_computed,
            )
