"""Custom member attributes (会员属性): the definitions HQ keeps, created, edited (label, options,
required) and switched on or off."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.forms import NO_ERRORS, FormErrors
from patron.console.member_forms import member_errors
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core.errors import NotFound, PatronError
from patron.members import attributes, presenters
from patron.members import permissions as member_policy
from patron.members.models import AttributeDefinition, AttributeType
from patron.members.schemas import AttributeCreate, AttributeUpdate

router = APIRouter(prefix="/members/attributes")
LIST_URL = f"{PREFIX}/members/attributes"
# Options are typed comma-separated; a Chinese keyboard gives the full-width comma.
OPTION_SEPARATORS = re.compile(r"[,，、]")


def split_options(raw: str) -> list[str]:
    return [o.strip() for o in OPTION_SEPARATORS.split(raw) if o.strip()]


def options_text(definition: AttributeDefinition) -> str:
    return ", ".join(presenters.attribute_out(definition).options)


@router.get("")
def attribute_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, member_policy.BROWSE_ATTRIBUTES)
    values = {"type": AttributeType.text.value, "required": False, "is_pii": False}
    return _page(request, session, values, NO_ERRORS)


@router.post("")
def attribute_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, member_policy.EDIT_ATTRIBUTES)
    values: dict[str, Any] = {
        name: text(form, name) for name in ("code", "label", "type", "options")
    }
    values |= {"required": form.get("required") == "on", "is_pii": form.get("is_pii") == "on"}
    try:
        data = AttributeCreate.model_validate(
            values | {"options": split_options(values["options"])}
        )
        with attempt(session):
            definition = attributes.create_attribute(session, actor, data)
    except (ValidationError, PatronError) as error:
        return _page(request, session, values, member_errors(error, t_for(request)))
    return redirect(LIST_URL, "flash.attribute_created", name=definition.label)


@router.get("/{attribute_id:int}/edit")
def attribute_edit(
    request: Request, attribute_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, member_policy.EDIT_ATTRIBUTES)
    definition = _get_attribute(session, attribute_id)
    values = {
        "label": definition.label,
        "options": options_text(definition),
        "required": definition.required,
    }
    return _edit_page(request, definition, values, NO_ERRORS)


@router.post("/{attribute_id:int}/edit")
def attribute_update(
    request: Request, attribute_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """The label, the options (choice types only) and whether members must have it; the code, the
    type and whether it is personal data stay as created."""
    require_console(actor, member_policy.EDIT_ATTRIBUTES)
    definition = _get_attribute(session, attribute_id)
    values: dict[str, Any] = {
        "label": text(form, "label"),
        "options": text(form, "options"),
        "required": form.get("required") == "on",
    }
    changes: dict[str, Any] = {"label": values["label"], "required": values["required"]}
    # Options are sent only when their text changed: one set through the API may hold a comma.
    if AttributeType(definition.type).is_choice and values["options"] != options_text(definition):
        changes["options"] = split_options(values["options"])
    try:
        data = AttributeUpdate.model_validate(changes)
        with attempt(session):
            saved = attributes.update_attribute(session, actor, definition.id, data)
    except (ValidationError, PatronError) as error:
        return _edit_page(request, definition, values, member_errors(error, t_for(request)))
    return redirect(LIST_URL, "flash.attribute_updated", name=saved.label)


@router.post("/{attribute_id:int}/active")
def attribute_active(
    attribute_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, member_policy.EDIT_ATTRIBUTES)
    active = text(form, "is_active")
    if active not in ("1", "0"):
        raise ErrorPage(400)
    with error_page_on(PatronError):
        definition = attributes.update_attribute(
            session, actor, attribute_id, AttributeUpdate(is_active=active == "1")
        )
    flash = "flash.attribute_enabled" if definition.is_active else "flash.attribute_disabled"
    return redirect(LIST_URL, flash, name=definition.label)


def _page(
    request: Request, session: Session, values: dict[str, Any], errors: FormErrors
) -> HTMLResponse:
    return render(
        request,
        "members/attributes.html",
        status=errors.status,
        definitions=[presenters.attribute_out(d) for d in attributes.list_attributes(session)],
        values=values,
        errors=errors,
        types=list(AttributeType),
    )


def _get_attribute(session: Session, attribute_id: int) -> AttributeDefinition:
    with error_page_on(NotFound):
        return attributes.get_attribute(session, attribute_id)


def _edit_page(
    request: Request, definition: AttributeDefinition, values: dict[str, Any], errors: FormErrors
) -> HTMLResponse:
    return render(
        request,
        "members/attributes_edit.html",
        status=errors.status,
        definition=presenters.attribute_out(definition),
        is_choice=AttributeType(definition.type).is_choice,
        values=values,
        errors=errors,
    )
