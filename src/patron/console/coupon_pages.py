"""Coupons (优惠券): the templates HQ marketing designs, each previewed as the member will see
it, and their status moves. Issuing is in coupon_issue_pages, the report in
coupon_report_pages, the member's coupons in member_coupons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.console.choices import store_options
from patron.console.coupon_forms import (
    FLAGS,
    SCOPE_INPUT,
    VALIDITY_MODES,
    new_template_values,
    read_template,
    template_errors,
    template_payload,
    template_values,
)
from patron.console.coupon_view import CouponFace, Terms, card_words, face, scope_store_ids
from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_enum
from patron.console.i18n import Translator
from patron.console.points_forms import refused, with_problems
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    first_page_url,
    next_page_url,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, PatronError
from patron.coupons import errors as coupon_errors
from patron.coupons import permissions as coupon_policy
from patron.coupons import templates
from patron.coupons.models import CouponTemplate, CouponType, ReturnOnRefund, TemplateStatus
from patron.coupons.schemas import TemplateIn
from patron.orders.models import OrderChannel
from patron.stores import service as stores

router = APIRouter(prefix="/coupons")
LIST_URL = f"{PREFIX}/coupons"
REPORT_URL = f"{LIST_URL}/report"
PAGE_SIZE = 20
# What a live template's form still sends (the rest is shown, disabled).
LIVE_FIELDS = ("name", "description", "total_stock")


def template_url(template_id: int) -> str:
    return f"{LIST_URL}/{template_id}"


def get_template(session: Session, template_id: int) -> CouponTemplate:
    try:
        return templates.get_template(session, template_id)
    except coupon_errors.TemplateNotFound as error:
        raise ErrorPage(404) from error


def is_live(template: CouponTemplate) -> bool:
    """Issued from, or paused: its value, scope and validity stay as its coupons have them."""
    return template.status in (TemplateStatus.active, TemplateStatus.paused)


def template_face(template: CouponTemplate, t: Translator, codes: dict[int, str]) -> CouponFace:
    return face(Terms.of(template), t, codes)


# --- list -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateRow:
    template: CouponTemplate
    face: CouponFace


@router.get("")
def template_list(
    request: Request, session: Tx, actor: ConsoleActorDep, status: str = "", cursor: str = ""
) -> HTMLResponse:
    require_console(actor, coupon_policy.VIEW)
    t = t_for(request)
    chosen = parse_enum(TemplateStatus, status)
    try:
        page = templates.list_templates(session, chosen, cursor or None, PAGE_SIZE)
    except InvalidInput as error:  # a cursor that is not one of ours
        raise ErrorPage(400) from error
    codes = stores.codes_by_id(session, scope_store_ids([tp.scope or {} for tp in page.items]))
    return render(
        request,
        "coupons/list.html",
        rows=[TemplateRow(tp, template_face(tp, t, codes)) for tp in page.items],
        chosen_status=chosen.value if chosen else "",
        statuses=list(TemplateStatus),
        report_url=REPORT_URL if coupon_policy.VIEW_REPORT.allows(actor) else None,
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


# --- one template -----------------------------------------------------------------------------


@router.get("/{template_id:int}")
def template_page(
    request: Request, template_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, coupon_policy.VIEW)
    template = get_template(session, template_id)
    return _template_page(request, session, actor, template)


def _template_page(
    request: Request, session: Session, actor: Actor, template: CouponTemplate
) -> HTMLResponse:
    t = t_for(request)
    scope = template.scope or {}
    codes = stores.codes_by_id(session, scope_store_ids([scope]))
    return render(
        request,
        "coupons/detail.html",
        coupon_template=template,
        face=template_face(template, t, codes),
        # The moves the service allows from this status, in the statuses' order.
        moves=[s for s in TemplateStatus if s in templates.MOVES[TemplateStatus(template.status)]],
        editable=template.status != TemplateStatus.ended,
        issuable=template.status == TemplateStatus.active,
        report_url=f"{REPORT_URL}#template-{template.id}"
        if coupon_policy.VIEW_REPORT.allows(actor)
        else None,
    )


@router.post("/{template_id:int}/status")
def template_status(
    template_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """Activate, pause or end the template; a move its status does not allow is said on its
    page."""
    require_console(actor, coupon_policy.EDIT_TEMPLATES)
    template = get_template(session, template_id)
    status = parse_enum(TemplateStatus, text(form, "status"))
    if status is None:
        raise ErrorPage(400)
    try:
        with attempt(session):
            templates.update_template(session, actor, template.id, {"status": status.value})
    except coupon_errors.StatusChangeRefused:
        return redirect(template_url(template.id), "flash.error.template_status", template.name)
    except PatronError:
        # Activating a template whose fixed dates have passed, say.
        return redirect(template_url(template.id), "flash.error.template_invalid", template.name)
    return redirect(template_url(template.id), f"flash.template_{status.value}", template.name)


# --- the designer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignerChoices:
    """What the designer checks typed codes against: the stores the actor may name, by code,
    and the catalog's category codes."""

    store_ids: dict[str, int]
    category_codes: set[str]

    @classmethod
    def load(cls, session: Session, actor: Actor) -> DesignerChoices:
        return cls(
            {store.code: store.id for store in store_options(session, actor)},
            {category.code for category in catalog.list_categories(session)},
        )

    def codes(self) -> dict[int, str]:
        return {store_id: code for code, store_id in self.store_ids.items()}


@router.get("/new")
def template_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, coupon_policy.EDIT_TEMPLATES)
    choices = DesignerChoices.load(session, actor)
    return _designer(request, choices, None, new_template_values(), NO_ERRORS)


@router.post("/new")
def template_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, coupon_policy.EDIT_TEMPLATES)
    t = t_for(request)
    values = read_template(form)
    choices = DesignerChoices.load(session, actor)
    payload, problems = template_payload(values, choices.store_ids, choices.category_codes, t)
    payload["status"] = text(form, "status") or TemplateStatus.draft.value
    try:
        TemplateIn.model_validate(payload)
    except ValidationError as error:
        errors = with_problems(template_errors(error, values, t), problems, t)
        return _designer(request, choices, None, values, errors)
    if problems:
        return _designer(request, choices, None, values, refused(problems, t))
    try:
        with attempt(session):
            template = templates.create_template(session, actor, payload)
    except PatronError as error:
        return _designer(request, choices, None, values, designer_errors(error, values, t))
    flash = "flash.template_created_active" if template.status == "active" else None
    return redirect(template_url(template.id), flash or "flash.template_created", template.name)


@router.get("/{template_id:int}/edit")
def template_edit(
    request: Request, template_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, coupon_policy.EDIT_TEMPLATES)
    template = _editable(session, template_id)
    choices = DesignerChoices.load(session, actor)
    codes = stores.codes_by_id(session, scope_store_ids([template.scope or {}]))
    return _designer(request, choices, template, template_values(template, codes), NO_ERRORS)


@router.post("/{template_id:int}/edit")
def template_update(
    request: Request, template_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, coupon_policy.EDIT_TEMPLATES)
    t = t_for(request)
    template = _editable(session, template_id)
    choices = DesignerChoices.load(session, actor)
    codes = stores.codes_by_id(session, scope_store_ids([template.scope or {}]))
    values = read_template(form)
    payload, problems = template_payload(values, choices.store_ids, choices.category_codes, t)
    if is_live(template):
        # Only these inputs are enabled: the rest of the form shows the template as it is.
        values = template_values(template, codes) | {n: values[n] for n in LIVE_FIELDS}
        payload = {n: payload[n] for n in LIVE_FIELDS}
        problems = {n: p for n, p in problems.items() if n in LIVE_FIELDS}
    else:
        try:
            TemplateIn.model_validate(payload)
        except ValidationError as error:
            errors = with_problems(template_errors(error, values, t), problems, t)
            return _designer(request, choices, template, values, errors)
    if problems:
        return _designer(request, choices, template, values, refused(problems, t))
    try:
        with attempt(session):
            templates.update_template(session, actor, template.id, payload)
    except PatronError as error:
        errors = designer_errors(error, values, t)
        return _designer(request, choices, template, values, errors)
    return redirect(template_url(template.id), "flash.template_saved", template.name)


def _editable(session: Session, template_id: int) -> CouponTemplate:
    template = get_template(session, template_id)
    if template.status == TemplateStatus.ended:
        raise ErrorPage(409, "error.template_ended")
    return template


# The service names some inputs by the template's fields: where they are in the form.
SERVICE_FIELDS = {
    "scope.store_ids": SCOPE_INPUT["store_ids"],
    "scope.exclude_store_ids": SCOPE_INPUT["exclude_store_ids"],
}


def designer_errors(error: PatronError, values: dict[str, Any], t: Translator) -> FormErrors:
    """A service refusal beside the designer's inputs: those it names as fields (a live
    template's locked ones among them)."""
    errors = form_errors(error, t)
    named = dict(errors.fields)
    locked = error.extra.get("fields")
    if isinstance(locked, list):
        named |= {str(name): errors.message or "" for name in locked}
    if not named:
        return errors
    fields = {}
    for name, message in named.items():
        name = SERVICE_FIELDS.get(name, name)
        if name in ("valid_from", "valid_until") and values["validity"] == "days":
            name = "valid_days"
        fields[name] = message
    return FormErrors(t("error.form"), errors.detail, fields, errors.status)


def _designer(
    request: Request,
    choices: DesignerChoices,
    template: CouponTemplate | None,
    values: dict[str, Any],
    errors: FormErrors,
) -> HTMLResponse:
    t = t_for(request)
    preview = _preview_terms(values, template, choices, t)
    return render(
        request,
        "coupons/form.html",
        status=errors.status,
        coupon_template=template,
        locked=template is not None and is_live(template),
        values=values,
        errors=errors,
        types=list(CouponType),
        validity_modes=VALIDITY_MODES,
        channels=list(OrderChannel),
        flags=FLAGS,
        refund_choices=list(ReturnOnRefund),
        face=face(preview, t, choices.codes()),
        words=card_words(t),
    )


def _preview_terms(
    values: dict[str, Any],
    template: CouponTemplate | None,
    choices: DesignerChoices,
    t: Translator,
) -> Terms:
    """The card the designer opens with, before its script takes over: the saved template's, or
    the form's as far as it reads (a refused form keeps what was typed)."""
    if template is not None and is_live(template):
        return Terms.of(template)
    payload, _problems = template_payload(values, choices.store_ids, choices.category_codes, t)
    return Terms(
        type=str(values.get("type") or CouponType.cash_off.value),
        threshold=payload.get("threshold") or 0,
        amount=payload.get("amount"),
        percent_off=payload.get("percent_off"),
        max_discount=payload.get("max_discount"),
        gift_sku=payload.get("gift_sku"),
        valid_from=payload.get("valid_from"),
        valid_until=payload.get("valid_until"),
        valid_days=payload.get("valid_days"),
        scope=payload["scope"],
    )
