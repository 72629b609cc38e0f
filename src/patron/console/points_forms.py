"""Reading the points forms (policy, earning rule, adjustment) into what the points schemas take,
and explaining their refusals beside the fields in the console's language."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData

from patron.console.forms import FormErrors, form_errors, parse_id, reason_text
from patron.console.i18n import Translator, has_key
from patron.console.member_forms import number as parse_number
from patron.console.points_view import factor_text
from patron.console.web import text
from patron.core.errors import PatronError
from patron.core.reasons import Reason, for_pydantic
from patron.members.attributes import TEXT_ATTRIBUTE_MAX
from patron.members.models import AttributeType
from patron.members.schemas import AttributeOut
from patron.points.models import ExpiryPolicy, PointsPolicy, PointsRule, RuleEffect

# Points columns are INTEGER: on PostgreSQL at most 2³¹ − 1, which the schemas do not bound.
MAX_INT = 2**31 - 1
SKU_MAX = 64
# The form's own numbers: a sign, digits, and thousands separators where they belong ("6,000";
# "1,5" is refused rather than read as 15).
WHOLE = re.compile(r"[+-]?(?:\d{1,12}|\d{1,3}(?:,\d{3}){1,3})")
SIGNS = str.maketrans({"−": "-", "－": "-", "＋": "+", "，": ",", " ": None})
SKU_SEPARATORS = re.compile(r"[\s,，、;；]+")

# --- shared -----------------------------------------------------------------------------------


def parse_int(raw: str) -> int | None:
    """A whole number as typed ("-500", "+6,000"); None when it is not one."""
    cleaned = raw.strip().translate(SIGNS)
    return int(cleaned.replace(",", "")) if WHOLE.fullmatch(cleaned) else None


def read_int(
    values: Mapping[str, Any],
    name: str,
    problems: dict[str, str],
    t: Translator,
    required: bool = True,
) -> int | None:
    """The whole number in input `name`; None, with the problem noted, when there is none."""
    raw = str(values.get(name, "")).strip()
    if not raw:
        if required:
            problems[name] = t("invalid.missing")
        return None
    number = parse_int(raw)
    if number is None:
        problems[name] = t("reason.whole_number")
        return None
    if abs(number) > MAX_INT:
        problems[name] = t("reason.number_too_large")
        return None
    return number


def message_for(item: ErrorDetails, t: Translator) -> str:
    """A schema's complaint about one input."""
    kind = item["type"]
    empty = item.get("input") in (None, "")
    if kind == "missing" or (empty and kind in ("int_type", "string_type", "string_too_short")):
        return t("invalid.missing")
    key = f"invalid.{kind}"
    if has_key(key):
        return t(key, **item.get("ctx", {}))
    return reason_text(for_pydantic(kind), t("invalid.other"), t)


def refused(
    fields: dict[str, str], t: Translator, status: int = 422, detail: str | None = None
) -> FormErrors:
    return FormErrors(message=t("error.form"), detail=detail, fields=fields, status=status)


def with_problems(errors: FormErrors, problems: dict[str, str], t: Translator) -> FormErrors:
    """Schema or service refusals plus the inputs that did not even parse, which win."""
    if not problems:
        return errors
    fields = errors.fields | problems
    return replace(errors, message=t("error.form"), fields=fields, status=max(errors.status, 422))


def schema_errors(
    error: ValidationError, t: Translator, place: Callable[[ErrorDetails], tuple[str, str | None]]
) -> FormErrors:
    """The schema's complaints beside the inputs `place` names (with its own words, if any)."""
    fields: dict[str, str] = {}
    for item in error.errors():
        name, message = place(item)
        fields.setdefault(name, message or message_for(item, t))
    return refused(fields, t)


# --- the policy -------------------------------------------------------------------------------

POLICY_NUMBERS = (
    "rolling_months",
    "pending_days",
    "points_per_yuan_value",
    "max_order_share_pct",
    "min_burn",
    "approval_threshold",
    "approval_window_hours",
)
POLICY_FIELDS = ("expiry_policy", *POLICY_NUMBERS)
# Points as cash: an optional cap per order, caps by category typed as "TOBACCO=0, WINE=20",
# and whether points pay beside a coupon.
CAP_FIELDS = ("max_points_per_order", "category_caps", "combine_with_coupons")
CATEGORY_CAP = re.compile(r"([^=:：\s]+)\s*[=:：]\s*(\d{1,3})\s*%?")


def category_caps_text(caps: Mapping[str, int]) -> str:
    return ", ".join(f"{code}={pct}" for code, pct in sorted(caps.items()))


def policy_values(policy: PointsPolicy) -> dict[str, Any]:
    values: dict[str, Any] = {name: str(getattr(policy, name)) for name in POLICY_FIELDS}
    cap = policy.max_points_per_order
    values["max_points_per_order"] = "" if cap is None else str(cap)
    values["category_caps"] = category_caps_text(policy.category_caps or {})
    values["combine_with_coupons"] = policy.combine_with_coupons
    return values


def read_policy(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, name) for name in (*POLICY_FIELDS, *CAP_FIELDS)}
    values["combine_with_coupons"] = form.get("combine_with_coupons") == "on"
    return values


def read_caps(raw: str) -> dict[str, int] | None:
    """ "TOBACCO=0, WINE=20" as {code: percent}; None when a part is not code=percent."""
    caps: dict[str, int] = {}
    for part in SKU_SEPARATORS.split(raw.strip()):
        if not part:
            continue
        found = CATEGORY_CAP.fullmatch(part)
        if found is None:
            return None
        caps[found[1]] = int(found[2])
    return caps


def policy_changes(
    values: dict[str, Any], policy: PointsPolicy, t: Translator
) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields that differ from the policy now, and the inputs that are not whole numbers.

    The months only matter for rolling expiry: left empty under another policy, they stay. An
    empty cap per order is no cap.
    """
    problems: dict[str, str] = {}
    changes: dict[str, Any] = {}
    if values["expiry_policy"] != policy.expiry_policy:
        changes["expiry_policy"] = values["expiry_policy"]
    for name in POLICY_NUMBERS:
        required = name != "rolling_months" or values["expiry_policy"] == ExpiryPolicy.rolling
        number = read_int(values, name, problems, t, required=required)
        if number is not None and number != getattr(policy, name):
            changes[name] = number
    cap = read_int(values, "max_points_per_order", problems, t, required=False)
    if "max_points_per_order" not in problems and cap != policy.max_points_per_order:
        changes["max_points_per_order"] = cap
    caps = read_caps(values["category_caps"])
    if caps is None:
        problems["category_caps"] = t("points.policy.category_caps_invalid")
    elif caps != (policy.category_caps or {}):
        changes["category_caps"] = caps
    if values["combine_with_coupons"] != policy.combine_with_coupons:
        changes["combine_with_coupons"] = values["combine_with_coupons"]
    return changes, problems


def policy_errors(error: ValidationError, t: Translator) -> FormErrors:
    return schema_errors(error, t, lambda item: (str(item["loc"][0]) if item["loc"] else "", None))


# --- earning rules ----------------------------------------------------------------------------

RULE_TEXT_FIELDS = (
    "name",
    "effect",
    "factor",
    "per_order",
    "per_item",
    "cap_per_order",
    "cap_per_member_day",
    "priority",
    "date_from",
    "date_to",
    "skus",
    "birthday",
)
RULE_LIST_FIELDS = ("store_ids", "channels", "category_ids", "weekdays")
RULE_FLAGS = ("active", "stackable")
# One input per effect, so that the form reads without a script: ×N, N per order, N per item.
AMOUNT_FIELDS = {
    RuleEffect.multiply: "factor",
    RuleEffect.add_per_order: "per_order",
    RuleEffect.add_per_item: "per_item",
}
# Conditions the API may set and the form does not show: kept as they are when a rule is saved.
# Attribute conditions are shown, one input per attribute the form offers (`offered_attributes`);
# those on other attributes (switched off, personal data, unknown) are kept like these.
KEPT_CONDITIONS = ("product_ids",)
ATTRIBUTE_INPUT = "attributes."


@dataclass(frozen=True)
class AttributeChoice:
    """One member attribute the rule form offers as a condition.

    Earning compares one value per attribute: the member's value must equal it, or, for a
    multiple choice, include it. So every attribute takes a single value here. `options` are a
    choice attribute's options, plus the saved value when it is no longer one of them, so that
    editing the rule neither hides nor drops it.
    """

    code: str
    label: str
    type: AttributeType
    options: tuple[str, ...]

    @property
    def name(self) -> str:
        return ATTRIBUTE_INPUT + self.code

    @property
    def is_choice(self) -> bool:
        return self.type.is_choice


def offered_attributes(
    definitions: Sequence[AttributeOut], saved: Mapping[str, Any]
) -> list[AttributeChoice]:
    """The attributes a rule may be conditioned on in the form: the active ones that are not
    personal data (a rule's conditions are stored and listed in clear). `saved` is the rule's
    `conditions.attributes`; an attribute whose saved value one input cannot show (a list set
    through the API, say) is left out, and so kept as it is."""
    offered = []
    for d in definitions:
        shown = d.code not in saved or _showable(d.type, saved[d.code])
        if not d.is_active or d.is_pii or not shown:
            continue
        options = list(d.options)
        value = saved.get(d.code)
        if isinstance(value, str) and value and value not in options:
            options.append(value)
        offered.append(AttributeChoice(d.code, d.label, d.type, tuple(options)))
    return offered


def kept_attributes(offered: Sequence[AttributeChoice], saved: Mapping[str, Any]) -> dict[str, Any]:
    """The saved attribute conditions the form does not show, kept as they are."""
    shown = {a.code for a in offered}
    return {code: value for code, value in saved.items() if code not in shown}


def _showable(kind: AttributeType, value: Any) -> bool:
    if value is None:  # "has no value", set through the API: an empty input would drop it
        return False
    if kind is AttributeType.number:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is AttributeType.date:
        try:
            return date.fromisoformat(value).isoformat() == value
        except (TypeError, ValueError):
            return False
    return isinstance(value, str)


def _attribute_text(value: Any) -> str:
    return "" if value is None else str(value)


def new_rule_values() -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(RULE_TEXT_FIELDS, "")
    values |= {name: [] for name in RULE_LIST_FIELDS}
    values |= {"effect": RuleEffect.multiply.value, "factor": "2", "priority": "0"}
    return values | {"active": True, "stackable": True}


def rule_values(rule: PointsRule, offered: Sequence[AttributeChoice] = ()) -> dict[str, Any]:
    """What the form shows for a saved rule."""
    c = rule.conditions or {}
    attributes = c.get("attributes") or {}
    values = new_rule_values() | {
        "name": rule.name,
        "effect": rule.effect,
        "factor": "",
        "priority": str(rule.priority),
        "cap_per_order": str(rule.cap_per_order or ""),
        "cap_per_member_day": str(rule.cap_per_member_day or ""),
        "date_from": c.get("date_from") or "",
        "date_to": c.get("date_to") or "",
        "skus": "\n".join(c.get("skus") or []),
        "birthday": c.get("birthday") or "",
        "store_ids": [str(i) for i in c.get("store_ids") or []],
        "channels": [str(ch) for ch in c.get("channels") or []],
        "category_ids": [str(i) for i in c.get("category_ids") or []],
        "weekdays": [str(d) for d in c.get("weekdays") or []],
        "active": rule.active,
        "stackable": rule.stackable,
    }
    if rule.effect == RuleEffect.multiply:
        values["factor"] = factor_text(rule.amount)
    elif rule.effect in AMOUNT_FIELDS:
        values[AMOUNT_FIELDS[RuleEffect(rule.effect)]] = str(rule.amount)
    for attribute in offered:
        values[attribute.name] = _attribute_text(attributes.get(attribute.code))
    return values


def read_rule(form: FormData, offered: Sequence[AttributeChoice] = ()) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, name) for name in RULE_TEXT_FIELDS}
    for name in RULE_LIST_FIELDS:
        values[name] = [v for v in form.getlist(name) if isinstance(v, str)]
    for name in RULE_FLAGS:
        values[name] = form.get(name) == "on"
    for attribute in offered:
        values[attribute.name] = text(form, attribute.name)
    return values


def attribute_conditions(
    values: Mapping[str, Any],
    offered: Sequence[AttributeChoice],
    problems: dict[str, str],
    t: Translator,
) -> dict[str, Any]:
    """{code: value} for the attribute inputs filled in, typed as the member's values are stored
    (text as typed, a number as a number, a date as YYYY-MM-DD, a choice as its option), since
    earning compares them for equality. An empty input sets no condition."""
    conditions: dict[str, Any] = {}
    for attribute in offered:
        raw = str(values.get(attribute.name, "")).strip()
        if not raw:
            continue
        if attribute.is_choice:
            if raw not in attribute.options:
                problems[attribute.name] = t("reason.choice")
                continue
            conditions[attribute.code] = raw
        elif attribute.type is AttributeType.number:
            try:
                conditions[attribute.code] = parse_number(raw)
            except ValueError:
                problems[attribute.name] = t("reason.number")
        elif attribute.type is AttributeType.date:
            try:
                conditions[attribute.code] = date.fromisoformat(raw).isoformat()
            except ValueError:
                problems[attribute.name] = t("reason.date")
        elif len(raw) > TEXT_ATTRIBUTE_MAX:
            problems[attribute.name] = t("reason.text_long")
        else:
            conditions[attribute.code] = raw
    return conditions


def parse_factor(raw: str) -> int | None:
    """A multiplier as typed ("2", "1.5", "×2", "2倍") in hundredths; None if it is not one."""
    cleaned = raw.strip().lstrip("×xX*").rstrip("倍").strip()
    try:
        factor = Decimal(cleaned)
    except InvalidOperation:
        return None
    # Bounded before any arithmetic: "9e999999" × 100 overflows, "sNaN" × 100 raises.
    if not factor.is_finite() or abs(factor) > MAX_INT:
        return None
    hundredths = factor * 100
    if hundredths != hundredths.to_integral_value() or abs(hundredths) > MAX_INT:
        return None
    return int(hundredths)


def amount_field(values: Mapping[str, Any]) -> str:
    """The input that holds the amount of the chosen effect."""
    try:
        return AMOUNT_FIELDS[RuleEffect(str(values.get("effect", "")))]
    except ValueError:
        return "factor"


def rule_payload(
    values: dict[str, Any],
    kept: Mapping[str, Any],
    store_ids: Collection[int],
    category_ids: Collection[int],
    t: Translator,
    offered: Sequence[AttributeChoice] = (),
) -> tuple[dict[str, Any], dict[str, str]]:
    """What `RuleIn` takes from the form, and the inputs that do not parse.

    `kept` holds the saved rule's conditions; those the form does not show are kept as they are.
    """
    problems: dict[str, str] = {}
    field = amount_field(values)
    amount: int | None = None
    if field == "factor":
        if not values["factor"]:
            problems[field] = t("invalid.missing")
        elif (amount := parse_factor(values["factor"])) is None:
            problems[field] = t("reason.factor")
    else:
        amount = read_int(values, field, problems, t)
    priority = read_int(values, "priority", problems, t, required=False)
    caps = {
        name: read_int(values, name, problems, t, required=False)
        for name in ("cap_per_order", "cap_per_member_day")
    }
    conditions: dict[str, Any] = {
        "store_ids": _chosen(values, "store_ids", store_ids, problems, t),
        "channels": list(values["channels"]),
        "category_ids": _chosen(values, "category_ids", category_ids, problems, t),
        "skus": _skus(values, problems, t),
        "date_from": values["date_from"] or None,
        "date_to": values["date_to"] or None,
        "weekdays": [d for d in (parse_id(v) for v in values["weekdays"]) if d is not None],
        "birthday": values["birthday"] or None,
    }
    conditions |= {name: kept[name] for name in KEPT_CONDITIONS if kept.get(name)}
    attributes = kept_attributes(offered, kept.get("attributes") or {})
    attributes |= attribute_conditions(values, offered, problems, t)
    if attributes:
        conditions["attributes"] = attributes
    payload = {
        "name": values["name"],
        "active": bool(values["active"]),
        "priority": priority or 0,
        "stackable": bool(values["stackable"]),
        "conditions": conditions,
        "effect": values["effect"],
        "amount": amount,
    }
    return payload | caps, problems


def _chosen(
    values: Mapping[str, Any],
    name: str,
    known: Collection[int],
    problems: dict[str, str],
    t: Translator,
) -> list[int]:
    ids = [parse_id(v) for v in values[name]]
    if any(i is None or i not in known for i in ids):
        problems[name] = t("reason.choice")
    return [i for i in ids if i is not None]


def _skus(values: Mapping[str, Any], problems: dict[str, str], t: Translator) -> list[str]:
    skus = list(dict.fromkeys(s for s in SKU_SEPARATORS.split(values["skus"]) if s))
    if any(len(sku) > SKU_MAX for sku in skus):
        problems["skus"] = t("reason.sku_long")
    return skus


def rule_errors(error: ValidationError, values: Mapping[str, Any], t: Translator) -> FormErrors:
    field = amount_field(values)

    def place(item: ErrorDetails) -> tuple[str, str | None]:
        loc = item["loc"]
        if not loc:  # the rule's own check: a multiplier above ×1
            return field, t("reason.factor_above_one")
        if loc[0] == "amount":
            return field, None
        if loc[0] != "conditions":
            return str(loc[0]), None
        if len(loc) > 1:
            return str(loc[1]), None
        if item["type"] == Reason.dates_reversed:
            return "date_to", t("reason.date_order")
        return "weekdays", t("reason.choice")

    return schema_errors(error, t, place)


# --- adjustments ------------------------------------------------------------------------------


def adjustment_errors(error: ValidationError | PatronError, t: Translator) -> FormErrors:
    if isinstance(error, PatronError):
        return form_errors(error, t)
    return schema_errors(error, t, lambda item: (str(item["loc"][0]) if item["loc"] else "", None))
