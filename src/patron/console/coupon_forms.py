"""Reading the coupon forms (the template designer, issuing to a pasted list, void, transfer) into
what the coupon services take, and their refusals beside the fields."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData

from patron.console.coupon_view import SCOPE_KINDS, exclusion
from patron.console.forms import FormErrors, day_start, parse_id
from patron.console.i18n import Translator
from patron.console.points_forms import SKU_MAX, read_int, schema_errors
from patron.console.web import text
from patron.core import clock
from patron.core.money import MAX_FEN, fen_to_yuan, yuan_to_fen
from patron.coupons.models import CouponTemplate, CouponType, ReturnOnRefund
from patron.coupons.recipients import Recipient
from patron.orders.models import OrderChannel

MONEY_FIELDS = ("threshold", "amount", "max_discount")
COUNT_FIELDS = ("percent_off", "valid_days", "total_stock", "per_member_limit", "per_day_limit")
# The scope's lists the form takes as typed codes (stores by code, categories, SKUs), each with
# its exclusion list; channels are ticked.
CODE_LISTS = ("store_codes", "category_codes", "skus")
CODE_INPUTS = (*CODE_LISTS, *(exclusion(name) for name in CODE_LISTS))
CHANNEL_INPUTS = ("channels", exclusion("channels"))
FLAGS = ("stacks_with_tier_discount", "stacks_with_points", "exclusive", "transferable")
TEXT_FIELDS = (
    "name",
    "description",
    "type",
    *MONEY_FIELDS,
    *COUNT_FIELDS,
    "gift_sku",
    "validity",
    "valid_from",
    "valid_until",
    "return_on_refund",
    *CODE_INPUTS,
)
VALIDITY_MODES = ("days", "dates")
# Which value inputs each type reads; the others are left out of what is saved.
VALUE_FIELDS: dict[str, tuple[str, ...]] = {
    CouponType.cash_off: ("threshold", "amount"),
    CouponType.percent_off: ("threshold", "percent_off", "max_discount"),
    CouponType.voucher: ("threshold", "amount"),
    CouponType.gift: ("threshold", "gift_sku"),
    CouponType.shipping: ("threshold", "amount"),
}
CODE_SEPARATORS = re.compile(r"[\s,，、;；]+")
# What the form's inputs are called in the template's fields.
SCOPE_INPUT = {"store_ids": "store_codes", "exclude_store_ids": exclusion("store_codes")}


def new_template_values() -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(TEXT_FIELDS, "")
    values |= {name: [] for name in CHANNEL_INPUTS}
    values |= {
        "type": CouponType.cash_off.value,
        "validity": "days",
        "valid_days": "30",
        "per_member_limit": "1",
        "return_on_refund": ReturnOnRefund.full_refund.value,
        "stacks_with_tier_discount": True,
        "stacks_with_points": True,
        "exclusive": False,
        "transferable": False,
    }
    return values


def template_values(template: CouponTemplate, store_codes: Mapping[int, str]) -> dict[str, Any]:
    """What the designer shows for a saved template."""
    scope = template.scope or {}
    values = new_template_values() | {
        "name": template.name,
        "description": template.description,
        "type": template.type,
        "gift_sku": template.gift_sku or "",
        "validity": "days" if template.valid_days is not None else "dates",
        "valid_from": _day(template.valid_from),
        "valid_until": _day(template.valid_until),
        "return_on_refund": template.return_on_refund,
    }
    for name in MONEY_FIELDS:
        fen = getattr(template, name)
        values[name] = fen_to_yuan(fen) if fen is not None else ""
    for name in COUNT_FIELDS:
        count = getattr(template, name)
        values[name] = "" if count is None else str(count)
    for kind in ("store_ids", "exclude_store_ids"):
        ids = scope.get(kind) or []
        values[SCOPE_INPUT[kind]] = ", ".join(store_codes.get(i, f"#{i}") for i in ids)
    for name in ("category_codes", "skus"):
        for key in (name, exclusion(name)):
            values[key] = ", ".join(str(v) for v in scope.get(key) or [])
    for key in CHANNEL_INPUTS:
        values[key] = [str(c) for c in scope.get(key) or []]
    for name in FLAGS:
        values[name] = bool(getattr(template, name))
    return values


def _day(value: datetime | None) -> str:
    return value.astimezone(clock.business_tz()).date().isoformat() if value else ""


def read_template(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, name) for name in TEXT_FIELDS}
    for name in CHANNEL_INPUTS:
        values[name] = [v for v in form.getlist(name) if isinstance(v, str)]
    for name in FLAGS:
        values[name] = form.get(name) == "on"
    return values


def read_fen(
    values: Mapping[str, Any], name: str, problems: dict[str, str], t: Translator
) -> int | None:
    """The amount in yuan in input `name`, in fen; None when empty or, noted, not an amount."""
    raw = str(values.get(name, "")).strip()
    if not raw:
        return None
    try:
        fen = yuan_to_fen(raw.removeprefix("￥"))
    except ValueError:
        problems[name] = t("reason.amount")
        return None
    if abs(fen) > MAX_FEN:
        problems[name] = t("reason.amount_too_large")
        return None
    return fen


def codes(raw: str) -> list[str]:
    """Codes typed one a line or separated by commas, each once, in the order typed."""
    return list(dict.fromkeys(c for c in CODE_SEPARATORS.split(raw) if c))


def template_payload(
    values: Mapping[str, Any],
    store_ids: Mapping[str, int],
    category_codes: Collection[str],
    t: Translator,
) -> tuple[dict[str, Any], dict[str, str]]:
    """What the template schema takes from the designer, and the inputs that do not parse.

    `store_ids` maps the codes of the stores the actor may name to their ids.
    """
    problems: dict[str, str] = {}
    kind = str(values.get("type", ""))
    wanted = VALUE_FIELDS.get(kind, ())
    payload: dict[str, Any] = {
        "name": values["name"],
        "description": values["description"],
        "type": kind,
        "threshold": 0,
        "amount": None,
        "percent_off": None,
        "max_discount": None,
        "gift_sku": (values["gift_sku"] or None) if "gift_sku" in wanted else None,
    }
    for name in MONEY_FIELDS:
        if name in wanted:
            fen = read_fen(values, name, problems, t)
            payload[name] = fen if fen is not None or name != "threshold" else 0
    if "percent_off" in wanted:
        payload["percent_off"] = read_int(values, "percent_off", problems, t, required=False)
    payload |= _validity(values, problems, t)
    for name in ("total_stock", "per_member_limit", "per_day_limit"):
        payload[name] = read_int(values, name, problems, t, required=False)
    payload |= {name: bool(values[name]) for name in FLAGS}
    payload["return_on_refund"] = values["return_on_refund"] or ReturnOnRefund.full_refund.value
    payload["scope"] = _scope(values, store_ids, category_codes, problems, t)
    return payload, problems


def _validity(values: Mapping[str, Any], problems: dict[str, str], t: Translator) -> dict[str, Any]:
    """Days from issue, or the first and last day (the whole of each, in business time)."""
    if values["validity"] != "dates":
        days = read_int(values, "valid_days", problems, t)
        return {"valid_from": None, "valid_until": None, "valid_days": days}
    dates: dict[str, Any] = {"valid_days": None}
    for name, shift in (("valid_from", 0), ("valid_until", 1)):
        raw = str(values[name])
        start = day_start(raw, shift) if raw else None
        if raw and start is None:
            problems[name] = t("reason.date")
        elif not raw and name == "valid_until":
            problems[name] = t("invalid.missing")
        dates[name] = start - timedelta(seconds=1) if start and shift else start
    return dates


def _scope(
    values: Mapping[str, Any],
    store_ids: Mapping[str, int],
    category_codes: Collection[str],
    problems: dict[str, str],
    t: Translator,
) -> dict[str, list[Any]]:
    scope: dict[str, list[Any]] = {}
    for kind in SCOPE_KINDS:
        for key in (kind, exclusion(kind)):
            name = SCOPE_INPUT.get(key, key)
            if kind == "channels":
                chosen = [str(c) for c in values[name]]
                if any(c not in OrderChannel.__members__ for c in chosen):
                    problems[name] = t("reason.choice")
                scope[key] = chosen
                continue
            typed = codes(str(values[name]))
            if kind == "store_ids":
                unknown = [c for c in typed if c not in store_ids]
                scope[key] = [store_ids[c] for c in typed if c in store_ids]
            elif kind == "category_codes":
                unknown = [c for c in typed if c not in category_codes]
                scope[key] = typed
            else:
                unknown = []
                if any(len(sku) > SKU_MAX for sku in typed):
                    problems[name] = t("reason.sku_long")
                scope[key] = typed
            if unknown:
                problems[name] = t("reason.unknown_codes", codes=t("list.sep").join(unknown))
    return scope


def template_errors(error: ValidationError, values: Mapping[str, Any], t: Translator) -> FormErrors:
    """The schema's complaints beside the designer's inputs."""

    def place(item: ErrorDetails) -> tuple[str, str | None]:
        loc = [str(part) for part in item["loc"]]
        if not loc:
            return "type", None
        if loc[0] == "scope" and len(loc) > 1:
            return SCOPE_INPUT.get(loc[1], loc[1]), None
        if loc[0] in ("valid_from", "valid_until", "valid_days") and values["validity"] == "days":
            return "valid_days", None
        return loc[0], None

    return schema_errors(error, t, place)


# --- issuing to a pasted list -------------------------------------------------------------------

# A member id as typed: digits, shorter than a mainland mobile (11 digits from 1).
MEMBER_ID = re.compile(r"\d{1,10}")


def pasted_recipients(raw: str) -> list[Recipient]:
    """The non-empty lines of a pasted list, each a member id or else a mobile as written (the
    issue refuses one that is no mobile), numbered by line as a file's rows are."""
    pasted = []
    for number, line in enumerate(raw.splitlines(), 1):
        entry = line.strip()
        if not entry:
            continue
        if MEMBER_ID.fullmatch(entry):
            pasted.append(Recipient(member_id=parse_id(entry), row=number))
        else:
            pasted.append(Recipient(mobile=entry, row=number))
    return pasted
