"""Issuing a coupon template to a pasted list of member ids or mobiles, or to an uploaded CSV or
Excel file: how many got one, and each refused line with why."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.console.coupon_forms import pasted_recipients
from patron.console.coupon_pages import get_template, template_face
from patron.console.coupon_view import scope_store_ids
from patron.console.forms import NO_ERRORS, FormErrors, form_errors
from patron.console.i18n import Translator, has_key
from patron.console.points_forms import refused
from patron.console.uploads import UploadRefused, uploaded_file
from patron.console.web import (
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    render,
    require_console,
    settings_of,
    t_for,
    text,
)
from patron.core import idempotency
from patron.core.actor import Actor
from patron.core.errors import PatronError
from patron.core.tabular import FileLimits
from patron.coupons import permissions as coupon_policy
from patron.coupons import recipients
from patron.coupons.models import CouponTemplate
from patron.stores import service as stores

router = APIRouter(prefix="/coupons")
ISSUE_KEY_FIELD = "issue_key"


@dataclass(frozen=True)
class RefusedRow:
    line: int | None  # of the pasted list, or the file's row
    recipient: str
    code: str
    reason: str


@dataclass(frozen=True)
class IssueView:
    issued: int
    rows: list[RefusedRow]
    replayed: bool = False


@router.get("/{template_id:int}/issue")
def issue_page(
    request: Request, template_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, coupon_policy.ISSUE)
    template = get_template(session, template_id)
    return _issue_page(request, session, template, {}, NO_ERRORS, None)


@router.post("/{template_id:int}/issue")
def issue_submit(
    request: Request, template_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """Issue the template to the pasted members (ids or mobiles, one a line) or to the uploaded
    file's, and show how many got one and who did not, with why. The form's one-time key makes a
    second submission show the first one's result instead of issuing again."""
    require_console(actor, coupon_policy.ISSUE)
    t = t_for(request)
    template = get_template(session, template_id)
    key = text(form, ISSUE_KEY_FIELD)
    if not key or len(key) > idempotency.MAX_KEY_LENGTH:
        raise ErrorPage(400)
    values = {"recipients": text(form, "recipients", strip=False)}
    try:
        work, body = _issue_work(request, session, actor, template, form, values["recipients"])
    except UploadRefused as refusal:
        return _issue_page(request, session, template, values, refusal.errors, None)
    scope = f"console coupon issue {template.id}"
    try:
        with attempt(session):
            outcome = idempotency.run_once(session, actor, key, scope, body, work)
    except PatronError as error:
        errors = form_errors(error, t)
        if errors.fields.keys() - {"file"}:
            errors = refused({"file": t("error.form")}, t, status=errors.status)
        return _issue_page(request, session, template, values, errors, None)
    issued = outcome.body
    rows = [_refused_row(row, t) for row in issued["refused"]]
    result = IssueView(int(issued["issued"]), rows, outcome.replayed)
    session.refresh(template)
    return _issue_page(request, session, template, {}, NO_ERRORS, result)


def _issue_work(
    request: Request,
    session: Session,
    actor: Actor,
    template: CouponTemplate,
    form: FormData,
    pasted: str,
) -> tuple[Callable[[], tuple[int, dict[str, Any]]], dict[str, Any]]:
    """The issue the form asks for (to its file, else to its pasted list) and what identifies
    it for the one-time key."""
    t = t_for(request)
    # A store user of one store issues for it (the report counts it there); HQ for the chain.
    store_id = (
        next(iter(actor.store_ids)) if actor.store_ids and len(actor.store_ids) == 1 else None
    )
    uploaded = uploaded_file(request, form)
    if uploaded is not None:
        filename, content = uploaded
        limits = FileLimits.of(settings_of(request))

        def from_file() -> tuple[int, dict[str, Any]]:
            result = recipients.issue_from_file(
                session, actor, template.id, content, filename, store_id=store_id, limits=limits
            )
            return 200, _answer(result)

        digest = hashlib.sha256(content).hexdigest()
        return from_file, {"template_id": template.id, "file": filename, "sha256": digest}
    pasted_list = pasted_recipients(pasted)
    if not pasted_list:
        errors = refused({"recipients": t("coupons.issue.nothing")}, t)
        raise UploadRefused(errors)

    def from_list() -> tuple[int, dict[str, Any]]:
        result = recipients.issue_to_list(
            session, actor, template.id, pasted_list, store_id=store_id
        )
        return 200, _answer(result)

    return from_list, {"template_id": template.id, "recipients": pasted}


def _answer(result: recipients.ListResult) -> dict[str, Any]:
    """The issue's result as stored for a replay."""
    return {
        "issued": result.issued,
        "refused": [
            {"row": r.row, "member_id": r.member_id, "mobile": r.mobile, "code": str(r.code)}
            for r in result.refused
        ],
    }


def _refused_row(row: dict[str, Any], t: Translator) -> RefusedRow:
    code = str(row["code"])
    key = f"coupons.refusal.{code}"
    named = row.get("mobile") or (f"#{row['member_id']}" if row.get("member_id") else "—")
    return RefusedRow(row.get("row"), named, code, t(key) if has_key(key) else code)


def _issue_page(
    request: Request,
    session: Session,
    template: CouponTemplate,
    values: dict[str, str],
    errors: FormErrors,
    result: IssueView | None,
) -> HTMLResponse:
    t = t_for(request)
    codes = stores.codes_by_id(session, scope_store_ids([template.scope or {}]))
    return render(
        request,
        "coupons/issue.html",
        status=errors.status,
        coupon_template=template,
        face=template_face(template, t, codes),
        values=values,
        errors=errors,
        result=result,
        # A fresh key for every rendering of the form: submitting it twice issues once.
        issue_key=secrets.token_urlsafe(24),
    )
