"""Journeys (营销自动化): the list with each journey's entries and conversions, the editor (trigger,
entry limit, control share, goal, and the steps as rows of typed forms), a journey's flow with
what each step did, its status moves and its report against the control group."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console import journey_flow, journey_form
from patron.console.forms import NO_ERRORS, FormErrors
from patron.console.i18n import Translator, has_key
from patron.console.message_ids import N_
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    first_page_url,
    next_page_url,
    redirect,
    render,
    require_console,
    t_for,
)
from patron.core import export
from patron.core.errors import InvalidInput, PatronError
from patron.coupons import templates as coupon_templates
from patron.coupons.errors import TemplateNotFound
from patron.coupons.models import TemplateStatus
from patron.journeys import api as journeys_api
from patron.journeys import permissions as journey_policy
from patron.journeys import report as journey_report
from patron.journeys import service as journeys
from patron.journeys.errors import JourneyArchived, JourneyNotFound, JourneyStatusConflict
from patron.journeys.models import Journey, JourneyStatus, JourneyVersion
from patron.journeys.schemas import FlowOut, JourneyIn, JourneyPatch
from patron.messages import templates as message_templates
from patron.tags import service as tags
from patron.tags.models import TagKind

router = APIRouter(prefix="/journeys")
LIST_URL = f"{PREFIX}/journeys"
PAGE_SIZE = 20
ENTRIES_PAGE = 25
# The choices a step row offers: enough for a chain's active coupons and message templates.
CHOICES = 200
MOVES = ("activate", "pause", "archive")
BUILT_IDS = (
    N_("journeys.status.draft"),
    N_("journeys.status.active"),
    N_("journeys.status.paused"),
    N_("journeys.status.archived"),
    N_("journeys.trigger.member.registered"),
    N_("journeys.trigger.first_purchase"),
    N_("journeys.trigger.order.completed"),
    N_("journeys.trigger.birthday"),
    N_("journeys.trigger.dormant"),
    N_("journeys.trigger.member.tier_changed"),
    N_("journeys.trigger.points_expiring"),
    N_("journeys.trigger.coupon_expiring"),
    N_("journeys.trigger.no_purchase_after_coupon"),
    N_("journeys.direction.any"),
    N_("journeys.direction.up"),
    N_("journeys.direction.down"),
    N_("journeys.entry_limit.once"),
    N_("journeys.entry_limit.every_n_days"),
    N_("journeys.kind.wait"),
    N_("journeys.kind.condition"),
    N_("journeys.kind.branch"),
    N_("journeys.kind.issue_coupon"),
    N_("journeys.kind.grant_points"),
    N_("journeys.kind.send_message"),
    N_("journeys.kind.tag_add"),
    N_("journeys.kind.tag_remove"),
    N_("journeys.kind.webhook"),
    N_("journeys.kind.exit"),
    N_("journeys.entry_status.active"),
    N_("journeys.entry_status.converted"),
    N_("journeys.entry_status.done"),
    N_("journeys.entry_status.exited"),
    N_("journeys.outcome.done"),
    N_("journeys.outcome.yes"),
    N_("journeys.outcome.no"),
    N_("journeys.outcome.control"),
    N_("journeys.outcome.skipped"),
    N_("journeys.move.activate"),
    N_("journeys.move.pause"),
    N_("journeys.move.archive"),
    N_("flash.journey_created"),
    N_("flash.journey_saved"),
    N_("flash.journey_activate"),
    N_("flash.journey_pause"),
    N_("flash.journey_archive"),
    N_("flash.error.journey_archived"),
    N_("flash.error.journey_status_conflict"),
    N_("flash.error.journey_invalid"),
    N_("error.step_key_taken"),
    N_("error.unknown_step"),
    N_("error.loop_without_wait"),
    N_("error.wait_kind"),
    N_("error.unknown_tag"),
    N_("error.entry_days_needed"),
    N_("error.journey_not_found"),
    N_("error.journey_name_taken"),
    N_("error.journey_archived"),
    N_("error.journey_status_conflict"),
    N_("schedule.job.journeys.advance"),
    N_("schedule.job.journeys.advance.description"),
    N_("schedule.job.journeys.enter_dated"),
    N_("schedule.job.journeys.enter_dated.description"),
)


def _json(data: Any) -> Markup:
    return Markup(json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))


def _get(session: Session, journey_id: int) -> Journey:
    with error_page_on(JourneyNotFound):
        return journeys.get_journey(session, journey_id)


# --- the list ---------------------------------------------------------------------------------


@router.get("")
def journey_list(
    request: Request, session: Tx, actor: ConsoleActorDep, cursor: str = "", status: str = ""
) -> HTMLResponse:
    require_console(actor, journey_policy.VIEW)
    wanted = JourneyStatus(status) if status in JourneyStatus.__members__ else None
    with error_page_on(InvalidInput):
        page = journeys.list_journeys(session, cursor or None, PAGE_SIZE, wanted)
    versions = journeys.current_versions(session, page.items)
    totals = journeys.entry_totals(session, [journey.id for journey in page.items])
    rows = [
        {
            "journey": journey,
            "trigger": versions[journey.id].trigger,
            "entries": sum(totals[journey.id].values()),
            "converted": totals[journey.id]["converted"],
        }
        for journey in page.items
    ]
    return render(
        request,
        "journeys/list.html",
        rows=rows,
        chosen_status=wanted.value if wanted else "",
        statuses=[s.value for s in JourneyStatus],
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


# --- the editor -------------------------------------------------------------------------------


def _choices(session: Session) -> dict[str, Any]:
    coupons = coupon_templates.list_templates(session, TemplateStatus.active, None, CHOICES)
    messages = message_templates.list_templates(session, None, None, CHOICES)
    return {
        "coupon_templates": [(t.id, t.name) for t in coupons.items],
        "message_templates": [
            (f"{m.channel}:{m.code}", f"{m.name or m.code} · {m.channel}")
            for m in messages.items
            if m.active
        ],
        "tag_names": tags.all_names(session, (TagKind.manual, TagKind.imported)),
    }


def _editor(
    request: Request,
    session: Session,
    journey: Journey | None,
    values: dict[str, Any],
    errors: FormErrors,
) -> HTMLResponse:
    return render(
        request,
        "journeys/editor.html",
        status=errors.status if errors is not NO_ERRORS else 200,
        journey=journey,
        values=values,
        errors=errors,
        triggers=journey_form.TRIGGERS,
        trigger_fields={
            name: " ".join(events) for name, events in journey_form.TRIGGER_FIELDS.items()
        },
        directions=journey_form.DIRECTIONS,
        entry_limits=journey_form.ENTRY_LIMITS,
        kinds=list(journey_form.KINDS),
        hours=range(24),
        **_choices(session),
    )


@router.get("/new")
def journey_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, journey_policy.MANAGE)
    return _editor(request, session, None, journey_form.blank_values(), NO_ERRORS)


@router.post("/new")
def journey_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, journey_policy.MANAGE)
    values = journey_form.read(form)
    if journey_form.change_rows(values["steps"], str(form.get("op", ""))):
        return _editor(request, session, None, values, NO_ERRORS)
    try:
        data = JourneyIn.model_validate(journey_form.body(values))
        with attempt(session):
            journey = journeys.create(session, actor, data)
    except (ValidationError, PatronError, journey_form.BadField) as error:
        errors = journey_form.errors_of(error, t_for(request))
        return _editor(request, session, None, values, errors)
    return redirect(f"{LIST_URL}/{journey.id}", "flash.journey_created", name=journey.name)


@router.get("/{journey_id:int}/edit")
def journey_edit(
    request: Request, journey_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, journey_policy.MANAGE)
    journey = _get(session, journey_id)
    if journey.status == JourneyStatus.archived.value:
        raise ErrorPage(409, "error.journey_archived")
    version = journeys.current_version(session, journey)
    values = journey_form.values_of(journey.name, journey.description, _definition(version))
    return _editor(request, session, journey, values, NO_ERRORS)


@router.post("/{journey_id:int}/edit")
def journey_update(
    request: Request, journey_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, journey_policy.MANAGE)
    journey = _get(session, journey_id)
    values = journey_form.read(form)
    if journey_form.change_rows(values["steps"], str(form.get("op", ""))):
        return _editor(request, session, journey, values, NO_ERRORS)
    try:
        data = JourneyPatch.model_validate(journey_form.body(values))
        with attempt(session):
            journeys.update(session, actor, journey.id, data)
    except (ValidationError, PatronError, journey_form.BadField) as error:
        errors = journey_form.errors_of(error, t_for(request))
        return _editor(request, session, journey, values, errors)
    return redirect(f"{LIST_URL}/{journey.id}", "flash.journey_saved", name=journey.name)


def _definition(version: JourneyVersion) -> dict[str, Any]:
    return {
        "trigger": version.trigger,
        "entry_limit": version.entry_limit,
        "entry_days": version.entry_days,
        "control_percent": version.control_percent,
        "goal": version.goal,
        "steps": version.steps,
    }


# --- a journey: its flow, its moves, its report -----------------------------------------------


@router.get("/{journey_id:int}")
def journey_detail(
    request: Request,
    journey_id: int,
    session: Tx,
    actor: ConsoleActorDep,
    cursor: str = "",
    version: int = 0,
) -> HTMLResponse:
    require_console(actor, journey_policy.VIEW)
    journey = _get(session, journey_id)
    shown = version or journey.current_version
    with error_page_on(JourneyNotFound):
        definition = _definition(journeys.get_version(session, journey.id, shown))
    flow = journeys.flow(session, journey.id, shown)
    with error_page_on(InvalidInput):
        entered = journeys.entries(session, journey.id, cursor or None, ENTRIES_PAGE)
    t = t_for(request)
    found = journey_report.report(session, journey.id)
    return render(
        request,
        "journeys/detail.html",
        journey=journey,
        definition=definition,
        shown_version=shown,
        trigger_text=_trigger_text(definition["trigger"], t),
        flow=_flow(session, definition, flow, t),
        box_width=journey_flow.BOX_WIDTH,
        box_height=journey_flow.BOX_HEIGHT,
        entries=journeys.entry_totals(session, [journey.id])[journey.id],
        report=found,
        chart_json=_json(_chart(found, t)),
        entry_rows=entered.items,
        next_url=next_page_url(request, entered.next_cursor),
        first_url=first_page_url(request),
        moves=[m for m in MOVES if _allowed(journey.status, m)],
        can_manage=journey_policy.MANAGE.allows(actor),
    )


@router.get("/{journey_id:int}/report/export")
def journey_report_export(
    journey_id: int, session: Tx, actor: ConsoleActorDep, format: str = "csv"
) -> Response:
    require_console(actor, journey_policy.VIEW)
    fmt = export.Format.xlsx if format == "xlsx" else export.Format.csv
    journey = _get(session, journey_id)
    return journeys_api.download(journey_report.report(session, journey.id), fmt)


def _allowed(status: str, move: str) -> bool:
    sources, target = journeys.MOVES[move]
    return status in sources and status != target.value


@router.post("/{journey_id:int}/{move}")
def journey_move(
    journey_id: int, move: str, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, journey_policy.MANAGE)
    if move not in MOVES:
        raise ErrorPage(404)
    journey = _get(session, journey_id)
    url = f"{LIST_URL}/{journey.id}"
    try:
        with attempt(session):
            journeys.move(session, actor, journey.id, move)
    except JourneyArchived:
        return redirect(url, "flash.error.journey_archived", name=journey.name)
    except JourneyStatusConflict:
        return redirect(url, "flash.error.journey_status_conflict", name=journey.name)
    except InvalidInput:
        # What the definition names has gone since it was saved (a template, a tag).
        return redirect(url, "flash.error.journey_invalid", name=journey.name)
    return redirect(url, f"flash.journey_{move}", name=journey.name)


def _trigger_text(trigger: Mapping[str, Any], t: Translator) -> str:
    event = trigger["event"]
    text = t(f"journeys.trigger.{event}")
    details = []
    if "days" in trigger:
        details.append(t("journeys.trigger_days", days=trigger["days"]))
    if trigger.get("days_before"):
        details.append(t("journeys.trigger_days_before", days=trigger["days_before"]))
    if trigger.get("min_total"):
        details.append(t("journeys.trigger_min_total", amount=t.yuan(trigger["min_total"])))
    if trigger.get("direction") and trigger["direction"] != "any":
        details.append(t(f"journeys.direction.{trigger['direction']}"))
    if trigger.get("to_tier"):
        details.append(t("journeys.trigger_to_tier", tier=trigger["to_tier"]))
    if trigger.get("template_id"):
        details.append(t("journeys.trigger_template", id=trigger["template_id"]))
    return text + (f" · {', '.join(details)}" if details else "")


def _template_names(session: Session, steps: list[Mapping[str, Any]]) -> dict[int, str]:
    names = {}
    for step in steps:
        if step.get("action") == "issue_coupon":
            try:
                names[step["template_id"]] = coupon_templates.get_template(
                    session, step["template_id"]
                ).name
            except TemplateNotFound:
                names[step["template_id"]] = f"#{step['template_id']}"
    return names


def _describe(t: Translator, coupons: Mapping[int, str]) -> journey_flow.Describe:
    def describe(step: Mapping[str, Any]) -> tuple[str, str]:
        kind = journey_form.kind_of(step)
        title = t(f"journeys.kind.{kind}")
        if kind == "wait":
            if step.get("until_hour") is not None:
                return title, t("journeys.wait_until", hour=step["until_hour"])
            return title, t(
                "journeys.wait_for",
                days=step.get("days", 0),
                hours=step.get("hours", 0),
                minutes=step.get("minutes", 0),
            )
        if kind in ("condition", "branch"):
            return title, step["rule"]
        if kind == "issue_coupon":
            return title, coupons.get(step["template_id"], f"#{step['template_id']}")
        if kind == "grant_points":
            return title, t("journeys.points_for", points=step["points"], reason=step["reason"])
        if kind == "send_message":
            return title, f"{step['template']} · {step['channel']}"
        if kind in ("tag_add", "tag_remove"):
            return title, step["tag"]
        if kind == "webhook":
            return title, "journey.action"
        return title, ""

    return describe


def _outcomes(step: Any, t: Translator) -> str:
    said = [t("journeys.waiting", count=t.num(step.waiting))] if step.waiting else []
    for outcome, count in sorted(step.outcomes.items()):
        name, _, reason = outcome.partition(":")
        key = f"journeys.outcome.{name}"
        label = t(key) if has_key(key) else outcome
        if reason:
            label = f"{label}({reason})"
        said.append(f"{label} {t.num(count)}")
    return " · ".join(said) if said else t("journeys.no_runs")


def _flow(
    session: Session, definition: Mapping[str, Any], flow: FlowOut, t: Translator
) -> journey_flow.Flow:
    steps = definition["steps"]
    counts = {step.key: _outcomes(step, t) for step in flow.steps}
    entered = sum(flow.entries.values())
    trigger = (
        t("journeys.flow.trigger"),
        _trigger_text(definition["trigger"], t),
        t("journeys.flow.entered", count=t.num(entered)),
    )
    return journey_flow.layout(
        steps,
        trigger,
        _describe(t, _template_names(session, steps)),
        counts,
        {"yes": t("journeys.outcome.yes"), "no": t("journeys.outcome.no")},
    )


def _chart(found: Any, t: Translator) -> dict[str, Any]:
    """The report's figures for the charts: the groups side by side and the relative uplift
    of each measure with its interval, in per cent."""

    def rate(value: float | None) -> float | None:
        return None if value is None else round(value * 100, 2)

    def yuan(value: float | None) -> float | None:
        return None if value is None else round(value / 100, 2)

    uplift = found.uplift or {}
    measures = []
    for name in ("conversion", "revenue_per_member"):
        effect = uplift.get(name) or {}
        ci = effect.get("relative_ci")
        measures.append(
            {
                "name": t(f"journeys.report.{name}"),
                "value": rate(effect.get("relative")),
                "ci": [rate(ci[0]), rate(ci[1])] if ci else None,
            }
        )
    return {
        "groups": [t("journeys.report.treated"), t("journeys.report.control")],
        "conversion": [rate(found.treated.conversion_rate), rate(found.control.conversion_rate)],
        "revenue": [yuan(found.treated.revenue_per_member), yuan(found.control.revenue_per_member)],
        "measures": measures,
        "labels": {
            "conversion": t("journeys.report.conversion_rate_pct"),
            "revenue": t("journeys.report.revenue_per_member_yuan"),
            "uplift": t("journeys.report.relative_uplift_pct"),
        },
    }
