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


def member_errors(
    error: ValidationError | PatronError, t: Translator, extra: dict[str, str] | None = None
) -> FormErrors:
    """`form_errors` with the member forms' field names."""
    errors = form_errors(error, t)
    fields = {FORM_FIELDS.get(name, name): message for name, message in errors.fields.items()}
    fields |= extra or {}
    message = t("error.form") if fields else errors.message
    return replace(errors, fields=fields, message=message)


def field_errors(fields: dict[str, str], t: Translator, status: int = 422) -> FormErrors:
    return FormErrors(message=t("error.form"), fields=fields, status=status)
