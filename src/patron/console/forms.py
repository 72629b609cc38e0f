"""Turning a refused form (schema validation or a service rule) into messages beside its fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import TypeVar

from pydantic import ValidationError

from patron.console.i18n import Translator, has_key
from patron.core import clock
from patron.core.errors import PatronError
from patron.core.ids import MAX_ROW_ID
from patron.core.reasons import for_pydantic

E = TypeVar("E", bound=Enum)
# The days a date filter may name: orders before 2000 are refused, and the calendar's own edges
# would not convert to UTC.
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(9998, 12, 31)


@dataclass(frozen=True)
class FormErrors:
    message: str | None = None
    # The service's own words, shown under the message when no field explains the refusal.
    detail: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    status: int = 200


NO_ERRORS = FormErrors()


def form_errors(error: ValidationError | PatronError, t: Translator) -> FormErrors:
    if isinstance(error, ValidationError):
        return _from_validation(error, t)
    return _from_service(error, t)


def reason_text(code: object, message: object, t: Translator) -> str:
    """A field error in the console's language by its stable code (patron.core.reasons); its
    English message when the console has no words for the code."""
    key = f"error.{code}"
    return t(key) if code and has_key(key) else str(message)


def _from_validation(error: ValidationError, t: Translator) -> FormErrors:
    fields: dict[str, str] = {}
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else ""
        key = f"invalid.{item['type']}"
        if has_key(key):
            message = t(key, **item.get("ctx", {}))
        else:
            message = reason_text(for_pydantic(item["type"]), t("invalid.other"), t)
        fields.setdefault(name, message)
    return FormErrors(message=t("error.form"), fields=fields, status=422)


def _from_service(error: PatronError, t: Translator) -> FormErrors:
    key = f"error.{error.code}"
    message = t(key) if has_key(key) else t("error.generic")
    fields = {
        str(e["field"]): reason_text(e.get("code"), e["message"], t)
        for e in error.extra.get("errors", [])
    }
    if "field" in error.extra:
        fields[str(error.extra["field"])] = message
    if fields:
        return FormErrors(message=t("error.form"), fields=fields, status=error.status)
    return FormErrors(message=message, detail=error.detail, status=error.status)


def parse_enum(kind: type[E], value: str) -> E | None:
    """A filter's enum value; an empty or unknown one means no filter."""
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def day_start(value: str, days: int = 0) -> datetime | None:
    """The start of a calendar day (plus `days`) in the business time zone; None if no date."""
    try:
        day = date.fromisoformat(value.strip()) + timedelta(days=days)
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        return None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        return None  # no business happened then, and the edges do not convert to UTC
    return datetime.combine(day, time(), tzinfo=clock.business_tz())


def parse_id(value: str) -> int | None:
    """An id typed or chosen in a form; None for anything but a plain, not absurdly long, number."""
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= 18 and int(value) <= MAX_ROW_ID:
        return int(value)
    return None
