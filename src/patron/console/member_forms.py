"""Reading the member forms and explaining their refusals in the console's language."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.console.forms import FormErrors, form_errors
from patron.console.i18n import Translator
from patron.console.web import text
from patron.core.errors import PatronError
from patron.members.models import AttributeType
from patron.members.schemas import AttributeOut
from patron.staff import service as staff

ATTRIBUTE_PREFIX = "attributes."
# The service names a guide by id; the forms take the guide's username.
FORM_FIELDS = {"guide_id": "guide"}
# Schema validators that raise ValueError, explained per field.
VALUE_ERRORS = {"mobile": "reason.mobile", "email": "reason.email"}
# The service's reasons (English, for API callers), as the console says them.
REASONS = (
    ("is in the future", "reason.future"),
    ("no store ", "reason.store_scope"),
    ("no active store staff member", "reason.guide"),
    ("external ids need", "reason.issuer"),
    ("must be a number", "reason.number"),
    ("must be a date", "reason.date"),
    ("must be one of", "reason.choice"),
    ("must be a list drawn from", "reason.choice"),
    ("must be text of at most", "reason.text_long"),
    ("a choice attribute needs options", "reason.options_needed"),
    ("only choice attributes take options", "reason.options_unexpected"),
    ("options repeat", "reason.options_repeat"),
    ("a member cannot be merged into itself", "reason.merge_self"),
    ("may not be removed", "invalid.missing"),
    # The importer's reasons for a refused row or file.
    ("not a phone number", "reason.mobile"),
    ("not a China mainland mobile", "reason.mobile"),
    ("not an email address", "reason.email"),
    ("no active staff user", "reason.guide"),
    ("not a date", "reason.date"),
    ("not a gender", "reason.gender"),
    ("longer than 50 characters", "reason.name_long"),
    ("same mobile as row", "reason.duplicate_row"),
    ("card number belongs to another member", "error.identity_taken"),
    ("the file is empty", "import.empty"),
    ("no mobile column", "import.no_mobile_column"),
    ("the header row lacks column", "import.no_mobile_column"),
    ("not a readable .xlsx workbook", "import.unreadable"),
)


def attribute_field(code: str) -> str:
    return ATTRIBUTE_PREFIX + code


def read_attributes(form: FormData, definitions: list[AttributeOut]) -> dict[str, Any]:
    """The attribute inputs as submitted: a string each, a list for multiple choice."""
    values: dict[str, Any] = {}
    for definition in definitions:
        name = attribute_field(definition.code)
        if definition.type is AttributeType.multi_choice:
            values[name] = [v for v in form.getlist(name) if isinstance(v, str)]
        else:
            values[name] = text(form, name)
    return values


def parse_attributes(
    values: dict[str, Any], definitions: list[AttributeOut], t: Translator
) -> tuple[dict[str, Any], dict[str, str]]:
    """{code: value or None when left empty} for the service, and the inputs that do not parse."""
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for definition in definitions:
        name = attribute_field(definition.code)
        raw = values.get(name)
        if raw in (None, "", []):
            parsed[definition.code] = None
        elif definition.type is AttributeType.number:
            try:
                parsed[definition.code] = number(str(raw))
            except ValueError:
                errors[name] = t("reason.number")
        else:
            parsed[definition.code] = raw
    return parsed, errors


def number(raw: str) -> int | float:
    try:
        return int(raw)
    except ValueError:
        value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def shown_attribute(definition: AttributeOut, value: Any) -> Any:
    """An attribute value as its input shows it."""
    if value is None:
        return [] if definition.type is AttributeType.multi_choice else ""
    if definition.type is AttributeType.multi_choice:
        return [str(item) for item in value] if isinstance(value, list) else [str(value)]
    return str(value)


def guide_by_username(session: Session, username: str) -> int | None:
    """The id of the active staff user with this username, None when there is none."""
    user = staff.find_by_username(session, username)
    return user.id if user is not None and user.is_active else None


def localize(message: str, t: Translator) -> str:
    if message.endswith(" is required"):
        return t("invalid.missing")
    for start, key in REASONS:
        if message.startswith(start):
            return t(key)
    return message


def member_errors(
    error: ValidationError | PatronError, t: Translator, extra: dict[str, str] | None = None
) -> FormErrors:
    """`form_errors` with the member forms' field names and reasons in the console's language."""
    errors = form_errors(error, t)
    fields = {FORM_FIELDS.get(name, name): localize(msg, t) for name, msg in errors.fields.items()}
    if isinstance(error, ValidationError):
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else ""
            if item["type"] == "value_error" and name in VALUE_ERRORS:
                fields[name] = t(VALUE_ERRORS[name])
    fields |= extra or {}
    message = t("error.form") if fields else errors.message
    return replace(errors, fields=fields, message=message)


def field_errors(fields: dict[str, str], t: Translator, status: int = 422) -> FormErrors:
    return FormErrors(message=t("error.form"), fields=fields, status=status)
