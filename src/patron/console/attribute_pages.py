"""Custom member attributes (会员属性): the definitions HQ keeps, created and switched on or off."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.forms import NO_ERRORS, FormErrors
from patron.console.member_forms import member_errors
from patron.console.permissions import ATTRIBUTE_EDITORS, ATTRIBUTE_VIEWERS
from patron.console.web import (
    PREFIX,
    ActorDep,
    CheckedForm,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    redirect,
    render,
    require,
    t_for,
    text,
)
from patron.core.errors import PatronError
from patron.members import service
from patron.members.models import AttributeType
from patron.members.schemas import AttributeCreate, AttributeUpdate

router = APIRouter(prefix="/members/attributes")
LIST_URL = f"{PREFIX}/members/attributes"
# Options are typed comma-separated; a Chinese keyboard gives the full-width comma.
OPTION_SEPARATORS = re.compile(r"[,，、]")


@router.get("")
def attribute_list(request: Request, session: Tx, actor: ActorDep) -> HTMLResponse:
    require(actor, ATTRIBUTE_VIEWERS)
    values = {"type": AttributeType.text.value, "required": False, "is_pii": False}
    return _page(request, session, values, NO_ERRORS)


@router.post("")
def attribute_create(request: Request, session: Tx, actor: ActorDep, form: CheckedForm) -> Response:
    require(actor, ATTRIBUTE_EDITORS)
    values: dict[str, Any] = {
        name: text(form, name) for name in ("code", "label", "type", "options")
    }
    values |= {"required": form.get("required") == "on", "is_pii": form.get("is_pii") == "on"}
    options = [o.strip() for o in OPTION_SEPARATORS.split(values["options"]) if o.strip()]
    try:
        data = AttributeCreate.model_validate(values | {"options": options})
        with attempt(session):
            definition = service.create_attribute(session, actor, data)
    except (ValidationError, PatronError) as error:
        return _page(request, session, values, member_errors(error, t_for(request)))
    return redirect(LIST_URL, "flash.attribute_created", name=definition.label)


@router.post("/{attribute_id:int}/active")
def attribute_active(
    attribute_id: int, session: Tx, actor: ActorDep, form: CheckedForm
) -> Response:
    require(actor, ATTRIBUTE_EDITORS)
    active = text(form, "is_active")
    if active not in ("1", "0"):
        raise ErrorPage(400)
    with error_page_on(PatronError):
        definition = service.update_attribute(
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
        definitions=[service.attribute_out(d) for d in service.list_attributes(session)],
        values=values,
        errors=errors,
        types=list(AttributeType),
    )
