"""The journey editor's form: the definition as flat fields (trigger, entry limit, control share,
goal) and the steps as rows of typed fields (`steps-<i>-<name>`), turned into the API's body and
back; and a refusal's fields (`steps[2].template_id`, or pydantic's locations) as the rows'."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from patron.console.forms import FormErrors, form_errors, reason_text
from patron.console.i18n import Translator, has_key
from patron.core.errors import PatronError
from patron.core.reasons import for_pydantic

TRIGGERS = (
    "member.registered",
    "first_purchase",
    "order.completed",
    "birthday",
    "dormant",
    "member.tier_changed",
    "points_expiring",
    "coupon_expiring",
    "no_purchase_after_coupon",
)
# The trigger's settings a form shows, and the events each applies to.
TRIGGER_FIELDS = {
    "trigger_days": (
        "birthday",
        "dormant",
        "points_expiring",
        "coupon_expiring",
        "no_purchase_after_coupon",
    ),
    "trigger_min_total": ("order.completed",),
    "trigger_direction": ("member.tier_changed",),
    "trigger_to_tier": ("member.tier_changed",),
    "trigger_template_id": ("coupon_expiring", "no_purchase_after_coupon"),
}
DIRECTIONS = ("any", "up", "down")
ENTRY_LIMITS = ("once", "every_n_days")
# A step row's kind: the step's type and, for an action, which one.
KINDS: dict[str, tuple[str, str | None]] = {
    "wait": ("wait", None),
    "condition": ("condition", None),
    "branch": ("branch", None),
    "issue_coupon": ("action", "issue_coupon"),
    "grant_points": ("action", "grant_points"),
    "send_message": ("action", "send_message"),
    "tag_add": ("action", "tag_add"),
    "tag_remove": ("action", "tag_remove"),
    "webhook": ("action", "webhook"),
    "exit": ("exit", None),
}
# Each kind's own fields, as the row names them.
KIND_FIELDS = {
    "wait": ("days", "hours", "minutes", "until_hour"),
    "condition": ("rule",),
    "branch": ("rule", "yes", "no"),
    "issue_coupon": ("template_id",),
    "grant_points": ("points", "reason"),
    "send_message": ("message",),
    "tag_add": ("tag",),
    "tag_remove": ("tag",),
    "webhook": ("data",),
    "exit": (),
}
WHOLE_NUMBERS = {"days", "hours", "minutes", "until_hour", "template_id", "points"}
STEP_FIELD = re.compile(r"^steps\[(\d+)\](?:\.(\w+))?")
# Discriminator values pydantic puts in an error's location between a step and its field.
TAGS = set(KINDS) | {"action"}
ROW_FIELD = {"channel": "message", "template": "message"}
TRIGGER_ERROR_FIELD = {
    "days": "trigger_days",
    "days_before": "trigger_days",
    "min_total": "trigger_min_total",
    "direction": "trigger_direction",
    "to_tier": "trigger_to_tier",
    "template_id": "trigger_template_id",
}


class BadField(Exception):
    """A field the form itself cannot read (money that is no amount, data that is no JSON)."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(field)
        self.field = field
        self.code = code


def kind_of(step: Mapping[str, Any]) -> str:
    return str(step["action"]) if step["type"] == "action" else str(step["type"])


def blank_values() -> dict[str, Any]:
    return {
        "name": "",
        "description": "",
        "trigger_event": "member.registered",
        "trigger_direction": "any",
        "entry_limit": "once",
        "control_percent": "10",
        "goal_type": "purchase",
        "goal_days": "14",
        "steps": [],
    }


def values_of(name: str, description: str, definition: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values for a stored definition (a version's columns)."""
    trigger = definition["trigger"]
    goal = definition.get("goal") or {}
    days = trigger.get("days", trigger.get("days_before"))
    min_total = trigger.get("min_total")
    return {
        "name": name,
        "description": description,
        "trigger_event": trigger["event"],
        "trigger_days": "" if days is None else str(days),
        "trigger_min_total": f"{Decimal(min_total) / 100:.2f}" if min_total else "",
        "trigger_direction": trigger.get("direction", "any"),
        "trigger_to_tier": trigger.get("to_tier") or "",
        "trigger_template_id": str(trigger.get("template_id") or ""),
        "entry_limit": definition["entry_limit"],
        "entry_days": str(definition.get("entry_days") or ""),
        "control_percent": str(definition["control_percent"]),
        "goal_type": goal.get("type", ""),
        "goal_days": str(goal.get("days", "")),
        "steps": [row_of(step) for step in definition["steps"]],
    }


def row_of(step: Mapping[str, Any]) -> dict[str, str]:
    kind = kind_of(step)
    row = {"kind": kind, "key": str(step["key"]), "next": str(step.get("next") or "")}
    for name in KIND_FIELDS[kind]:
        if name == "message":
            row[name] = f"{step['channel']}:{step['template']}"
        elif name == "data":
            row[name] = json.dumps(step.get("data", {}), ensure_ascii=False)
        elif step.get(name) is not None:
            row[name] = str(step[name])
    return row


def read(form: FormData) -> dict[str, Any]:
    """The values as typed (text), steps in the order the form lists them."""
    values: dict[str, Any] = {
        name: _text(form, name)
        for name in (
            "name",
            "description",
            "trigger_event",
            *TRIGGER_FIELDS,
            "entry_limit",
            "entry_days",
            "control_percent",
            "goal_type",
            "goal_days",
        )
    }
    rows: list[dict[str, str]] = []
    while (kind := _text(form, f"steps-{len(rows)}-kind")) in KINDS:
        index = len(rows)
        row = {"kind": kind, "key": _text(form, f"steps-{index}-key")}
        for name in ("next", *KIND_FIELDS[kind]):
            row[name] = _text(form, f"steps-{index}-{name}", strip=name not in ("rule", "data"))
        rows.append(row)
    values["steps"] = rows
    return values


def _text(form: FormData, name: str, strip: bool = True) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def new_key(rows: Sequence[Mapping[str, str]]) -> str:
    taken = {row["key"] for row in rows}
    number = len(rows) + 1
    while f"s{number}" in taken:
        number += 1
    return f"s{number}"


def change_rows(rows: list[dict[str, str]], op: str) -> bool:
    """Add, remove or move a row as the button pressed says (`add:wait`, `up:2`); False when
    the operation is none of these (saving)."""
    verb, _, argument = op.partition(":")
    if verb == "add" and argument in KINDS:
        row = {"kind": argument, "key": new_key(rows), "next": ""}
        row |= dict.fromkeys(KIND_FIELDS[argument], "")
        if argument == "webhook":
            row["data"] = "{}"
        rows.append(row)
        return True
    if verb not in ("remove", "up", "down") or not argument.isdigit():
        return False
    index = int(argument)
    if not 0 <= index < len(rows):
        return True
    if verb == "remove":
        rows.pop(index)
    elif verb == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and index + 1 < len(rows):
        rows[index], rows[index + 1] = rows[index + 1], rows[index]
    return True


def body(values: Mapping[str, Any]) -> dict[str, Any]:
    """The API's body for the values (names and numbers as the schemas take them)."""
    event = values["trigger_event"]
    return {
        "name": values["name"],
        "description": values["description"],
        "trigger": _trigger(values, event),
        "entry_limit": values["entry_limit"],
        "entry_days": _number(values["entry_days"]) if values["entry_limit"] != "once" else None,
        "control_percent": _number(values["control_percent"]),
        "goal": (
            {"type": values["goal_type"], "days": _number(values["goal_days"] or "14")}
            if values["goal_type"]
            else None
        ),
        "steps": [_step(index, row) for index, row in enumerate(values["steps"])],
    }


def _trigger(values: Mapping[str, Any], event: str) -> dict[str, Any]:
    trigger: dict[str, Any] = {"event": event}
    applies = {name for name, events in TRIGGER_FIELDS.items() if event in events}
    if "trigger_days" in applies:
        name = "days_before" if event == "birthday" else "days"
        if values["trigger_days"]:
            trigger[name] = _number(values["trigger_days"])
    if "trigger_min_total" in applies and values["trigger_min_total"]:
        trigger["min_total"] = _fen(values["trigger_min_total"])
    if "trigger_direction" in applies:
        trigger["direction"] = values["trigger_direction"] or "any"
    if "trigger_to_tier" in applies and values["trigger_to_tier"]:
        trigger["to_tier"] = values["trigger_to_tier"]
    if "trigger_template_id" in applies and values["trigger_template_id"]:
        trigger["template_id"] = _number(values["trigger_template_id"])
    return trigger


def _step(index: int, row: Mapping[str, str]) -> dict[str, Any]:
    kind = row["kind"]
    kind_type, action = KINDS[kind]
    step: dict[str, Any] = {"key": row["key"], "type": kind_type}
    if action:
        step["action"] = action
    if row.get("next") and kind != "exit":
        step["next"] = row["next"]
    for name in KIND_FIELDS[kind]:
        value = row.get(name, "")
        if name == "data":
            step["data"] = _data(index, value)
        elif name == "message":
            channel, _, template = value.partition(":")
            step["channel"], step["template"] = channel, template
        elif value.strip():
            step[name] = _number(value) if name in WHOLE_NUMBERS else value
    return step


def _number(value: str) -> Any:
    """A whole number as typed; anything else as text, which the schema refuses by its type."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else value


def _fen(value: str) -> int:
    try:
        amount = Decimal(value)
    except InvalidOperation as error:
        raise BadField("trigger_min_total", "invalid") from error
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise BadField("trigger_min_total", "invalid")
    return int(amount * 100)


def _data(index: int, text: str) -> Any:
    try:
        data = json.loads(text or "{}")
    except ValueError as error:
        raise BadField(f"steps-{index}-data", "invalid") from error
    if not isinstance(data, dict):
        raise BadField(f"steps-{index}-data", "invalid")
    return data


def errors_of(error: ValidationError | PatronError | BadField, t: Translator) -> FormErrors:
    """The refusal with its fields named as the form names them."""
    if isinstance(error, BadField):
        return FormErrors(
            message=t("error.form"), fields={error.field: t("journeys.invalid_field")}, status=422
        )
    if isinstance(error, PatronError):
        found = form_errors(error, t)
        named = {_form_field_of_path(name): text for name, text in found.fields.items()}
        return FormErrors(found.message, found.detail, named, found.status)
    fields: dict[str, str] = {}
    for item in error.errors():
        key = f"invalid.{item['type']}"
        if has_key(key):
            message = t(key, **item.get("ctx", {}))
        else:
            message = reason_text(for_pydantic(item["type"]), t("invalid.other"), t)
        fields.setdefault(_form_field(item["loc"]), message)
    return FormErrors(message=t("error.form"), fields=fields, status=422)


def _form_field_of_path(path: str) -> str:
    """A service refusal's field (`steps[2].template_id`, `entry_days`) as the form's."""
    found = STEP_FIELD.match(path)
    if found is None:
        return path.split(".")[0]
    index, name = found.groups()
    return _row_field(int(index), name)


def _form_field(loc: Sequence[int | str]) -> str:
    if not loc:
        return ""
    head, rest = loc[0], [part for part in loc[1:] if isinstance(part, str)]
    if head == "steps" and len(loc) > 1 and isinstance(loc[1], int):
        names = [part for part in rest if part not in TAGS]
        return _row_field(loc[1], names[0] if names else None)
    if head == "trigger":
        names = [part for part in rest if part in TRIGGER_ERROR_FIELD]
        return TRIGGER_ERROR_FIELD[names[-1]] if names else "trigger_event"
    if head == "goal":
        return "goal_days" if "days" in rest else "goal_type"
    return str(head)


def _row_field(index: int, name: str | None) -> str:
    if name is None:
        return f"steps-{index}"
    return f"steps-{index}-{ROW_FIELD.get(name, name)}"
