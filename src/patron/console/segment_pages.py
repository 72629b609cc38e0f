"""Segments (人群): the saved segments with their counts and count history, the builder (a rule
typed or picked from menus, with a live count and errors shown where they are), a segment's
members (masked) and its export, and the members' RFM classes and lifecycle stages as charts."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.forms import NO_ERRORS, FormErrors, form_errors
from patron.console.i18n import Translator
from patron.console.message_ids import N_
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    Tx,
    attempt,
    error_page_on,
    first_page_url,
    next_page_url,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core import clock, export
from patron.core.errors import InvalidInput, PatronError
from patron.deps import WriteSessionDep
from patron.members import presenters
from patron.segments import permissions as segment_policy
from patron.segments import rules
from patron.segments import service as segments
from patron.segments.errors import InvalidRule, SegmentNotFound
from patron.segments.models import Segment
from patron.segments.schemas import SegmentIn, SegmentUpdate
from patron.stores import service as stores

router = APIRouter(prefix="/segments")
LIST_URL = f"{PREFIX}/segments"
PAGE_SIZE = 20
MEMBERS_PAGE = 25
SPARK_POINTS = 30
# What each function's menu entry inserts: its arguments with example values to edit.
FUNCTION_TEMPLATES = {
    "attr": 'attr("code") = "value"',
    "tag": 'tag("name")',
    "consent": 'consent("sms")',
    "spent": "spent(days=90) >= 50000",
    "orders": "orders(days=30) >= 1",
    "bought": 'bought(sku="SKU", days=180)',
    "coupon": 'coupon(template="name", status="available")',
}
OPERATORS = (
    " and ",
    " or ",
    "not ",
    " = ",
    " != ",
    " > ",
    " >= ",
    " < ",
    " <= ",
    ' in ("a", "b")',
    ' not in ("a", "b")',
    " between 1 and 10",
    "(",
    ")",
)
BUILT_IDS = (
    N_("segments.rfm.important_value"),
    N_("segments.rfm.important_develop"),
    N_("segments.rfm.important_retain"),
    N_("segments.rfm.important_winback"),
    N_("segments.rfm.general_value"),
    N_("segments.rfm.general_develop"),
    N_("segments.rfm.general_retain"),
    N_("segments.rfm.general_winback"),
    N_("segments.lifecycle.prospect"),
    N_("segments.lifecycle.new"),
    N_("segments.lifecycle.active"),
    N_("segments.lifecycle.at_risk"),
    N_("segments.lifecycle.dormant"),
    N_("segments.lifecycle.churned"),
    N_("segments.field.recency_days"),
    N_("segments.field.frequency"),
    N_("segments.field.monetary"),
    N_("segments.field.aov"),
    N_("segments.field.rfm_class"),
    N_("segments.field.lifecycle"),
    N_("segments.field.clv_365"),
    N_("segments.field.tier"),
    N_("segments.field.points"),
    N_("segments.field.stored_value"),
    N_("segments.field.registered_days"),
    N_("segments.field.birthday_month"),
    N_("segments.field.store"),
    N_("segments.field.guide"),
    N_("segments.field.channel"),
    N_("segments.function.attr"),
    N_("segments.function.tag"),
    N_("segments.function.consent"),
    N_("segments.function.spent"),
    N_("segments.function.orders"),
    N_("segments.function.bought"),
    N_("segments.function.coupon"),
    N_("error.invalid_rule"),
    N_("error.segment_name_taken"),
    N_("error.segment_not_found"),
    N_("error.segment_history_chain_wide"),
    N_("flash.segment_created"),
    N_("flash.segment_saved"),
    N_("flash.segment_deleted"),
    N_("flash.segment_refreshed"),
    N_("schedule.job.segments.refresh"),
    N_("schedule.job.segments.refresh.description"),
)


def _json(data: Any) -> Markup:
    return Markup(json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))


def _distribution_chart(session: Session, actor: Any, t: Translator) -> dict[str, Any]:
    found = segments.distribution(session, actor)
    rfm = [c.value for c in rules.RfmClass]
    stages = [s.value for s in rules.Lifecycle]
    return {
        "rfm": {
            "labels": [t(f"segments.rfm.{c}") for c in rfm],
            "codes": rfm,
            "data": [found.rfm.get(c, 0) for c in rfm],
        },
        "lifecycle": {
            "labels": [t(f"segments.lifecycle.{s}") for s in stages],
            "codes": stages,
            "data": [found.lifecycle.get(s, 0) for s in stages],
        },
        "members": found.members,
        "names": {"rfm": t("segments.chart.rfm"), "lifecycle": t("segments.chart.lifecycle")},
    }


@router.get("")
def segment_list(
    request: Request, session: Tx, actor: ConsoleActorDep, cursor: str = ""
) -> HTMLResponse:
    require_console(actor, segment_policy.VIEW)
    with error_page_on(InvalidInput):
        page = segments.list_segments(session, cursor or None, PAGE_SIZE)
    chain_wide = actor.all_stores
    history = segments.histories(session, [s.id for s in page.items], SPARK_POINTS)
    chart = _distribution_chart(session, actor, t_for(request))
    return render(
        request,
        "segments/list.html",
        segments=page.items,
        chain_wide=chain_wide,
        sparks={k: _spark(v) for k, v in history.items()} if chain_wide else {},
        chart=chart,
        chart_json=_json({**chart, "sparks": history if chain_wide else {}}),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


def _spark(points: list[int], width: int = 120, height: int = 28) -> str:
    """The count history as an SVG polyline's points (a sparkline drawn without script)."""
    if not points:
        return ""
    if len(points) == 1:
        points = points * 2
    low, high = min(points), max(points)
    span = (high - low) or 1
    step = width / (len(points) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (p - low) * (height - 4) / span:.1f}"
        for i, p in enumerate(points)
    )


def _builder(
    request: Request,
    session: Session,
    actor: Any,
    segment: Segment | None,
    values: dict[str, Any],
    errors: FormErrors,
    rule_error: dict[str, Any] | None = None,
) -> HTMLResponse:
    t = t_for(request)
    fields = [(name, t(f"segments.field.{name}")) for name in rules.FIELDS]
    functions = [
        (FUNCTION_TEMPLATES[name], t(f"segments.function.{name}")) for name in rules.FUNCTIONS
    ]
    vocabularies = [
        (name, [f'"{choice}"' for choice in spec.choices])
        for name, spec in rules.FIELDS.items()
        if spec.choices
    ]
    return render(
        request,
        "segments/builder.html",
        status=errors.status if errors is not NO_ERRORS else 200,
        segment=segment,
        values=values,
        errors=errors,
        rule_error=rule_error,
        fields=fields,
        functions=functions,
        operators=OPERATORS,
        vocabularies=vocabularies,
        chart_json=_json(_distribution_chart(session, actor, t)),
        words=_json(
            {
                # Filled in by the script: the placeholders stay.
                "count": t("segments.builder.count", count="%(count)s"),
                "counting": t("segments.builder.counting"),
                "expected": t("segments.builder.expected"),
                "at": t("segments.builder.at", line="%(line)s", column="%(column)s"),
                "failed": t("error.generic"),
            }
        ),
    )


def _rule_error(error: PatronError) -> dict[str, Any] | None:
    if isinstance(error, InvalidRule):
        return {
            "line": error.line,
            "column": error.column,
            "message": error.message,
            "expected": error.expected,
        }
    return None


@router.get("/new")
def segment_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, segment_policy.MANAGE)
    values = {"name": "", "description": "", "rule": ""}
    return _builder(request, session, actor, None, values, NO_ERRORS)


def _values(form: CheckedForm) -> dict[str, Any]:
    return {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "rule": text(form, "rule", strip=False).strip(),
    }


@router.post("/new")
def segment_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, segment_policy.MANAGE)
    values = _values(form)
    try:
        data = SegmentIn.model_validate(values)
        with attempt(session):
            segment = segments.create(session, actor, data, clock.now())
    except (ValidationError, PatronError) as error:
        errors = form_errors(error, t_for(request))
        rule_error = _rule_error(error) if isinstance(error, PatronError) else None
        return _builder(request, session, actor, None, values, errors, rule_error)
    return redirect(f"{LIST_URL}/{segment.id}", "flash.segment_created", name=segment.name)


@router.post("/preview")
def segment_preview(session: Tx, actor: ConsoleActorDep, form: CheckedForm) -> JSONResponse:
    """The builder's live count: {"count"} or {"error": {line, column, message, expected}}."""
    if not segment_policy.PREVIEW.allows(actor):
        return JSONResponse({"error": {"message": "forbidden"}}, status_code=403)
    rule = text(form, "rule", strip=False)
    if not rule.strip():
        return JSONResponse({"count": None})
    try:
        found = segments.preview(session, actor, rule, clock.now())
    except InvalidRule as error:
        # 200: a refusal is the answer the builder asked for (the browser logs any 4xx).
        return JSONResponse({"error": _rule_error(error)})
    return JSONResponse({"count": found.count})


def _get(session: Session, segment_id: int) -> Segment:
    with error_page_on(SegmentNotFound):
        return segments.get_segment(session, segment_id)


@router.get("/{segment_id:int}")
def segment_detail(
    request: Request, segment_id: int, session: Tx, actor: ConsoleActorDep, cursor: str = ""
) -> HTMLResponse:
    require_console(actor, segment_policy.VIEW)
    segment = _get(session, segment_id)
    now = clock.now()
    with error_page_on(InvalidInput, InvalidRule):
        page = segments.members(session, actor, segment.id, now, cursor or None, MEMBERS_PAGE)
    members = [presenters.summary(m) for m in page.items]
    codes = stores.codes_by_id(session, {m.store_id for m in members if m.store_id})
    chain_wide = actor.all_stores
    history = segments.history(session, actor, segment.id) if chain_wide else []
    return render(
        request,
        "segments/detail.html",
        segment=segment,
        member_count=segments.scoped_count(session, actor, segment, now),
        chain_wide=chain_wide,
        members=members,
        codes=codes,
        history=history,
        spark=_spark([p.member_count for p in history[-SPARK_POINTS:]]),
        can_manage=segment_policy.MANAGE.allows(actor),
        can_export=segment_policy.EXPORT.allows(actor),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


@router.get("/{segment_id:int}/edit")
def segment_edit(
    request: Request, segment_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, segment_policy.MANAGE)
    segment = _get(session, segment_id)
    values = {"name": segment.name, "description": segment.description, "rule": segment.rule}
    return _builder(request, session, actor, segment, values, NO_ERRORS)


@router.post("/{segment_id:int}/edit")
def segment_update(
    request: Request, segment_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, segment_policy.MANAGE)
    segment = _get(session, segment_id)
    values = _values(form)
    try:
        data = SegmentUpdate.model_validate(values)
        with attempt(session):
            segments.update(session, actor, segment.id, data, clock.now())
    except (ValidationError, PatronError) as error:
        errors = form_errors(error, t_for(request))
        rule_error = _rule_error(error) if isinstance(error, PatronError) else None
        return _builder(request, session, actor, segment, values, errors, rule_error)
    return redirect(f"{LIST_URL}/{segment.id}", "flash.segment_saved", name=segment.name)


@router.post("/{segment_id:int}/refresh")
def segment_refresh(
    segment_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, segment_policy.MANAGE)
    segment = _get(session, segment_id)
    with error_page_on(InvalidRule):
        segments.refresh(session, segment, clock.now())
    return redirect(f"{LIST_URL}/{segment.id}", "flash.segment_refreshed", name=segment.name)


@router.post("/{segment_id:int}/delete")
def segment_delete(
    segment_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, segment_policy.MANAGE)
    segment = _get(session, segment_id)
    name = segment.name
    segments.delete_segment(session, actor, segment.id)
    return redirect(LIST_URL, "flash.segment_deleted", name=name)


@router.get("/{segment_id:int}/export")
def segment_export(
    segment_id: int, session: WriteSessionDep, actor: ConsoleActorDep, format: str = "csv"
) -> Response:
    """The members as CSV or .xlsx, masked unless the role sees PII; audited."""
    require_console(actor, segment_policy.EXPORT)
    fmt = export.Format.xlsx if format == "xlsx" else export.Format.csv
    segment = _get(session, segment_id)
    now = clock.now()
    with error_page_on(InvalidRule):
        rows = segments.export_rows(session, actor, segment.id, now, fmt.value)
    stamp = now.astimezone(clock.business_tz()).strftime("%Y%m%d-%H%M")
    return export.download(fmt, f"segment-{segment.id}-{stamp}", segments.EXPORT_COLUMNS, rows)
