"""Coupons (优惠券): the templates HQ marketing designs, each previewed as the member will see
it, their status moves, and issuing a template to a pasted list or an uploaded file."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from patron.catalog import service as catalog
from patron.console.choices import store_options
from patron.console.coupon_forms import (
    FLAGS,
    SCOPE_INPUT,
    VALIDITY_MODES,
    new_template_values,
    pasted_recipients,
    read_template,
    template_errors,
    template_payload,
    template_values,
)
from patron.console.coupon_view import (
    CouponFace,
    Terms,
    card_words,
    face,
    scope_store_ids,
)
from patron.console.forms import NO_ERRORS, FormErrors, day_start, form_errors, parse_enum, parse_id
from patron.console.i18n import Translator, has_key
from patron.console.points_forms import refused, with_problems
from patron.console.uploads import SUFFIXES, UploadRefused, file_error, refused_file
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
    settings_of,
    t_for,
    text,
)
from patron.core import clock, export, idempotency
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, PatronError
from patron.core.tabular import FileLimits
from patron.core.uploads import PayloadTooLarge, read_capped
from patron.coupons import errors as coupon_errors
from patron.coupons import holding, recipients, reports, templates
from patron.coupons import permissions as coupon_policy
from patron.coupons.models import (
    Coupon,
    CouponStatus,
    CouponTemplate,
    CouponType,
    ReturnOnRefund,
    TemplateStatus,
)
from patron.coupons.schemas import TemplateIn
from patron.orders.models import OrderChannel
from patron.stores import service as stores

router = APIRouter(prefix="/coupons")
LIST_URL = f"{PREFIX}/coupons"
PAGE_SIZE = 20
# The status moves the template's page offers, by the status it is in.
MOVES = {
    TemplateStatus.draft: (TemplateStatus.active, TemplateStatus.ended),
    TemplateStatus.active: (TemplateStatus.paused, TemplateStatus.ended),
    TemplateStatus.paused: (TemplateStatus.active, TemplateStatus.ended),
    TemplateStatus.ended: (),
}
# What a live template's form still sends (the rest is shown, disabled).
LIVE_FIELDS = ("name", "description", "total_stock")
ISSUE_KEY_FIELD = "issue_key"


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
        report_url=REPORT_URL if reports.VIEW_REPORT.allows(actor) else None,
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
        moves=MOVES[TemplateStatus(template.status)],
        editable=template.status != TemplateStatus.ended,
        issuable=template.status == TemplateStatus.active,
        report_url=f"{REPORT_URL}#template-{template.id}"
        if reports.VIEW_REPORT.allows(actor)
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


# --- issuing ----------------------------------------------------------------------------------


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
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        settings = settings_of(request)
        if not upload.filename.lower().endswith(SUFFIXES):
            raise UploadRefused(file_error(t("import.bad_type"), t))
        try:
            content = read_capped(upload, settings)
        except PayloadTooLarge as error:
            message = t("import.too_large_short", mb=settings.max_upload_mb)
            raise UploadRefused(file_error(message, t, status=error.status)) from error
        except InvalidInput as error:
            raise UploadRefused(refused_file(error, t)) from error
        filename = upload.filename

        def from_file() -> tuple[int, dict[str, Any]]:
            limits = FileLimits.of(settings)
            result = recipients.issue_from_file(
                session, actor, template.id, content, filename, limits=limits
            )
            return 200, _answer(result)

        digest = hashlib.sha256(content).hexdigest()
        return from_file, {"template_id": template.id, "file": filename, "sha256": digest}
    pasted_list = pasted_recipients(pasted)
    if not pasted_list:
        errors = refused({"recipients": t("coupons.issue.nothing")}, t)
        raise UploadRefused(errors)

    def from_list() -> tuple[int, dict[str, Any]]:
        result = recipients.issue_to_list(session, actor, template.id, pasted_list)
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


# --- the member's coupons (on the member page) ------------------------------------------------

MEMBER_COUPONS = 12


@dataclass(frozen=True)
class HeldRow:
    code: str
    status: str
    name: str
    face: CouponFace
    transferable: bool
    issued: str
    # How it ended: redeemed when, voided why.
    note: str


@dataclass(frozen=True)
class HeldCoupons:
    """The member page's coupons: one page of one status, and a refused void or transfer
    (`open` names the form to show again, with what was typed)."""

    status: str
    rows: list[HeldRow]
    next_url: str | None
    statuses: tuple[CouponStatus, ...] = tuple(CouponStatus)
    open: tuple[str, str] | None = None
    values: dict[str, str] = field(default_factory=dict)
    errors: FormErrors = NO_ERRORS
    no_errors: FormErrors = NO_ERRORS


def held_coupons(
    request: Request, session: Session, member_id: int, status: str, cursor: str
) -> HeldCoupons:
    t = t_for(request)
    chosen = parse_enum(CouponStatus, status)
    try:
        page = holding.member_coupons(session, member_id, chosen, cursor or None, MEMBER_COUPONS)
    except InvalidInput as error:
        raise ErrorPage(400) from error
    by_id = holding.templates_of(session, list(page.items))
    codes = stores.codes_by_id(session, scope_store_ids([tp.scope or {} for tp in by_id.values()]))
    now = clock.now()
    rows = []
    for coupon in page.items:
        template = by_id[coupon.template_id]
        terms = Terms.of(template).held(coupon.valid_from, coupon.valid_until)
        rows.append(
            HeldRow(
                code=coupon.code,
                status=holding.status_at(coupon, now).value,
                name=template.name,
                face=face(terms, t, codes),
                transferable=template.transferable,
                issued=t(
                    "coupons.member.issued",
                    at=t.moment(coupon.issued_at),
                    source=t(f"coupon_source.{coupon.source}"),
                ),
                note=_ending(coupon, t),
            )
        )
    return HeldCoupons(
        chosen.value if chosen else "", rows, next_url_for(request, page.next_cursor)
    )


def next_url_for(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    url = request.url.include_query_params(coupon_cursor=cursor)
    return f"{url.path}?{url.query}"


def _ending(coupon: Coupon, t: Translator) -> str:
    if coupon.redeemed_at is not None:
        return t(
            "coupons.member.redeemed",
            at=t.moment(coupon.redeemed_at),
            amount=t.yuan(coupon.discount),
        )
    if coupon.voided_at is not None:
        return t("coupons.member.voided", at=t.moment(coupon.voided_at), reason=coupon.void_reason)
    return ""


# --- the report -------------------------------------------------------------------------------

REPORT_URL = f"{LIST_URL}/report"
REPORT_FILTERS = ("issued_from", "issued_until", "store")


@dataclass(frozen=True)
class ReportRow:
    figures: reports.TemplateFigures
    rate: str  # redemption rate, "—" when nothing was issued


def _report_filters(
    values: dict[str, str], t: Translator
) -> tuple[reports.ReportFilter, FormErrors]:
    """The report's filters from the query; a date that is not one is named beside its input
    and not applied."""
    problems: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name in ("issued_from", "issued_until"):
        start = day_start(values[name]) if values[name] else None
        if values[name] and start is None:
            problems[name] = t("reason.date")
        days[name] = start.date() if start else None
    filters = reports.ReportFilter(
        days["issued_from"], days["issued_until"], parse_id(values["store"])
    )
    return filters, refused(problems, t, status=200) if problems else NO_ERRORS


def _figures(
    request: Request, session: Session, actor: Actor, values: dict[str, str]
) -> tuple[list[reports.TemplateFigures], FormErrors]:
    t = t_for(request)
    filters, errors = _report_filters(values, t)
    try:
        return reports.template_report(session, actor, filters), errors
    except InvalidInput as error:  # dates reversed, a store outside the actor's
        refusal = form_errors(error, t)
        fields = {("store" if k == "store_id" else k): v for k, v in refusal.fields.items()}
        unfiltered = reports.ReportFilter()
        return reports.template_report(session, actor, unfiltered), refused(fields, t, 200)


@router.get("/report")
def report_page(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    issued_from: str = "",
    issued_until: str = "",
    store: str = "",
) -> HTMLResponse:
    """Per template: issued, redeemed, expired, void, the redemption rate, the discount given
    and the sales of the redeeming orders, over the coupons the filters select."""
    require_console(actor, reports.VIEW_REPORT)
    t = t_for(request)
    values = {"issued_from": issued_from, "issued_until": issued_until, "store": store}
    figures, errors = _figures(request, session, actor, values)
    rows = [
        ReportRow(f, t.percent(f.redemption_rate * 100) if f.redemption_rate is not None else "—")
        for f in figures
    ]
    query = urlencode({k: v for k, v in values.items() if v})
    return render(
        request,
        "coupons/report.html",
        rows=rows,
        values=values,
        errors=errors,
        store_options=store_options(session, actor),
        export_query=query,
    )


@router.get("/report/export")
def report_export(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    file_format: Annotated[str, Query(alias="format")] = "csv",
    issued_from: str = "",
    issued_until: str = "",
    store: str = "",
) -> Response:
    """The report as the API gives it (reports.COLUMNS, money in fen), as CSV or .xlsx."""
    require_console(actor, reports.VIEW_REPORT)
    fmt = parse_enum(export.Format, file_format)
    if fmt is None:
        raise ErrorPage(404)
    values = {"issued_from": issued_from, "issued_until": issued_until, "store": store}
    figures, _errors = _figures(request, session, actor, values)
    stamp = clock.now().astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
    return export.download(fmt, f"coupon-report-{stamp}", reports.COLUMNS, reports.rows(figures))
