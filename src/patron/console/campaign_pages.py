"""Campaigns (营销活动): the list, the wizard (audience with a live count → actions → control
share → schedule → review with the expected cost, then create, and launch), and a campaign's
page: its status, what each action did and skipped, and its report against the control group
with the uplift chart and the report as CSV or .xlsx."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.campaigns import permissions as campaign_policy
from patron.campaigns import report, service
from patron.campaigns.errors import AlreadyLaunched, CampaignNotFound
from patron.campaigns.models import Campaign, CampaignStatus
from patron.campaigns.report_api import download
from patron.campaigns.schemas import CampaignIn, CampaignPreviewIn
from patron.campaigns.uplift import Effect
from patron.console.forms import NO_ERRORS, FormErrors, form_errors
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
    text,
)
from patron.core import clock, export
from patron.core.errors import InvalidInput, PatronError
from patron.coupons import templates as coupon_templates
from patron.coupons.models import TemplateStatus
from patron.messages import templates as message_templates
from patron.segments import service as segments
from patron.segments.errors import SegmentNotFound

router = APIRouter(prefix="/campaigns")
LIST_URL = f"{PREFIX}/campaigns"
PAGE_SIZE = 20
CHOICES = 200  # segments and templates offered in the wizard's menus
ACTIONS = ("issue_coupon", "grant_points", "send_message")
BUDGETS = ("budget_coupons", "budget_points", "budget_messages")
BUILT_IDS = (
    N_("campaigns.status.draft"),
    N_("campaigns.status.scheduled"),
    N_("campaigns.status.running"),
    N_("campaigns.status.done"),
    N_("campaigns.status.cancelled"),
    N_("campaigns.action.issue_coupon"),
    N_("campaigns.action.grant_points"),
    N_("campaigns.action.send_message"),
    N_("campaigns.outcome.done"),
    N_("campaigns.outcome.no_marketing"),
    N_("campaigns.outcome.member_inactive"),
    N_("campaigns.outcome.no_consent"),
    N_("campaigns.outcome.no_address"),
    N_("campaigns.outcome.frequency_cap"),
    N_("campaigns.outcome.channel_off"),
    N_("campaigns.outcome.budget"),
    N_("campaigns.outcome.limit_reached"),
    N_("campaigns.outcome.out_of_stock"),
    N_("campaigns.cost.coupons"),
    N_("campaigns.cost.points"),
    N_("campaigns.cost.messages"),
    N_("flash.campaign_created"),
    N_("flash.campaign_launched"),
    N_("flash.campaign_cancelled"),
    N_("error.campaign_not_found"),
    N_("error.already_launched"),
    N_("error.campaign_not_editable"),
    N_("error.unknown_template"),
    N_("error.unknown_segment"),
    N_("error.budget_below_cost"),
    N_("error.campaign_chain_wide"),
)


def _json(data: Any) -> Markup:
    return Markup(json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))


def outcome_label(t: Translator, outcome: str) -> str:
    key = f"campaigns.outcome.{outcome}"
    return t(key) if has_key(key) else outcome


@router.get("")
def campaign_list(
    request: Request, session: Tx, actor: ConsoleActorDep, cursor: str = ""
) -> HTMLResponse:
    require_console(actor, campaign_policy.VIEW)
    with error_page_on(InvalidInput):
        page = service.list_campaigns(session, cursor or None, PAGE_SIZE)
    return render(
        request,
        "campaigns/list.html",
        campaigns=page.items,
        can_manage=campaign_policy.MANAGE.allows(actor),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


# The wizard ------------------------------------------------------------------------------------


def _wizard(
    request: Request, session: Session, values: dict[str, Any], errors: FormErrors
) -> HTMLResponse:
    t = t_for(request)
    saved = segments.list_segments(session, None, CHOICES).items
    coupons = coupon_templates.list_templates(session, TemplateStatus.active, None, CHOICES).items
    messages = message_templates.list_templates(session, None, None, CHOICES).items
    return render(
        request,
        "campaigns/wizard.html",
        status=errors.status if errors is not NO_ERRORS else 200,
        values=values,
        errors=errors,
        segments=saved,
        coupon_templates=coupons,
        message_templates=[m for m in messages if m.purpose == "marketing"],
        words=_json(
            {
                # Filled in by the script: the placeholders stay.
                "count": t("campaigns.wizard.count", count="%(count)s"),
                "counting": t("segments.builder.counting"),
                "failed": t("error.generic"),
                "cost": {k: t(f"campaigns.cost.{k}") for k in ("coupons", "points", "messages")},
                "fields": {
                    "actions": t("campaigns.step.actions"),
                    "segment_id": t("campaigns.field.segment"),
                    "rule": t("campaigns.field.rule"),
                    "control_percent": t("campaigns.field.control_percent"),
                    **{name: t(f"campaigns.field.{name}") for name in BUDGETS},
                },
                "skipped": {
                    reason: t(f"campaigns.outcome.{reason}")
                    for reason in (
                        "no_marketing",
                        "no_consent",
                        "no_address",
                        "frequency_cap",
                        "channel_off",
                    )
                },
            }
        ),
    )


EMPTY = {
    "name": "",
    "description": "",
    "audience": "segment",
    "segment_id": "",
    "rule": "",
    "coupon_template_id": "",
    "points": "",
    "points_reason": "",
    "message_template": "",
    "control_percent": "10",
    "control_reason": "",
    "when": "now",
    "schedule_at": "",
    "attribution_days": "14",
    **dict.fromkeys(BUDGETS, ""),
}


@router.get("/new")
def campaign_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, campaign_policy.MANAGE)
    return _wizard(request, session, {**EMPTY, "actions": []}, NO_ERRORS)


def _values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, name) for name in EMPTY}
    values["rule"] = text(form, "rule", strip=False).strip()
    values["actions"] = [a for a in form.getlist("actions") if a in ACTIONS]
    return values


def _actions(values: dict[str, Any]) -> list[dict[str, Any]]:
    chosen: list[dict[str, Any]] = []
    if "issue_coupon" in values["actions"]:
        chosen.append({"type": "issue_coupon", "template_id": values["coupon_template_id"]})
    if "grant_points" in values["actions"]:
        chosen.append(
            {"type": "grant_points", "points": values["points"], "reason": values["points_reason"]}
        )
    if "send_message" in values["actions"]:
        channel, _, code = values["message_template"].partition(":")
        chosen.append({"type": "send_message", "channel": channel, "template": code})
    return chosen


def _body(values: dict[str, Any]) -> dict[str, Any]:
    """The form as the API's body (CampaignPreviewIn's fields, and CampaignIn's)."""
    body: dict[str, Any] = {
        "actions": _actions(values),
        "control_percent": values["control_percent"] or 0,
        **{name: values[name] for name in BUDGETS if values[name]},
    }
    if values["audience"] == "rule":
        body["rule"] = values["rule"] or None
    else:
        body["segment_id"] = values["segment_id"] or None
    return body


def _campaign_in(values: dict[str, Any]) -> CampaignIn:
    schedule_at = None
    if values["when"] == "at" and values["schedule_at"]:
        try:
            local = datetime.fromisoformat(values["schedule_at"])
        except ValueError:
            local = None
        schedule_at = local.replace(tzinfo=clock.business_tz()) if local else values["schedule_at"]
    return CampaignIn.model_validate(
        {
            **_body(values),
            "name": values["name"],
            "description": values["description"],
            "control_reason": values["control_reason"],
            "attribution_days": values["attribution_days"] or 14,
            "schedule_at": schedule_at,
        }
    )


@router.post("/new")
def campaign_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, campaign_policy.MANAGE)
    values = _values(form)
    launch = text(form, "intent") == "launch"
    try:
        data = _campaign_in(values)
        with attempt(session):
            campaign = service.create(session, actor, data)
            if launch:
                service.launch(session, actor, campaign.id)
    except (ValidationError, PatronError) as error:
        return _wizard(request, session, values, form_errors(error, t_for(request)))
    flash = "flash.campaign_launched" if launch else "flash.campaign_created"
    return redirect(f"{LIST_URL}/{campaign.id}", flash, name=campaign.name)


@router.post("/preview")
def campaign_preview(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> JSONResponse:
    """The review step's forecast: audience, control, treated, expected cost, skipped by reason
    and the budgets' verdict; or {"error"} with the refusal in the console's language."""
    if not campaign_policy.MANAGE.allows(actor):
        return JSONResponse({"error": "forbidden"}, status_code=403)
    try:
        found = service.preview(
            session, actor, CampaignPreviewIn.model_validate(_body(_values(form)))
        )
    except (ValidationError, PatronError) as error:
        errors = form_errors(error, t_for(request))
        # 200: a refusal is the answer the review asked for (the browser logs any 4xx).
        return JSONResponse({"error": errors.message, "fields": errors.fields})
    return JSONResponse(found.model_dump())


# A campaign's page ---------------------------------------------------------------------------


def _get(session: Session, campaign_id: int) -> Campaign:
    with error_page_on(CampaignNotFound):
        return service.get_campaign(session, campaign_id)


def _effect(effect: Effect, scale: float) -> dict[str, Any]:
    def scaled(value: float | None) -> float | None:
        return None if value is None else round(value * scale, 4)

    return {
        "treated": scaled(effect.treated),
        "control": scaled(effect.control),
        "relative": scaled(effect.relative),
        "relative_ci": [scaled(v) for v in effect.relative_ci] if effect.relative_ci else None,
    }


def _chart(found: report.CampaignReport, t: Translator) -> dict[str, Any]:
    """The figures the uplift chart draws: conversion (%) and revenue per member (yuan) of
    each group, and the relative uplift of both (%) with its interval."""
    uplift = found.uplift
    return {
        "groups": [t("campaigns.report.treated"), t("campaigns.report.control")],
        "measures": [t("campaigns.report.conversion_rate"), t("campaigns.report.rpm")],
        "conversion": _effect(uplift.conversion, 100),
        "rpm": _effect(uplift.revenue_per_member, 0.01),
        "relative": {
            "conversion": _effect(uplift.conversion, 100),
            "rpm": _effect(uplift.revenue_per_member, 100),
        },
        "names": {
            "groups": t("campaigns.chart.groups"),
            "uplift": t("campaigns.chart.uplift"),
        },
    }


@router.get("/{campaign_id:int}")
def campaign_detail(
    request: Request, campaign_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, campaign_policy.VIEW)
    campaign = _get(session, campaign_id)
    found = report.campaign_report(session, actor, campaign.id)
    t = t_for(request)
    segment = None
    if campaign.segment_id is not None:
        with suppress(SegmentNotFound):
            segment = segments.get_segment(session, campaign.segment_id)
    return render(
        request,
        "campaigns/detail.html",
        campaign=campaign,
        segment=segment,
        treated=service.treated_count(session, campaign.id),
        outcomes=service.outcomes(session, campaign.id),
        outcome_label=lambda outcome: outcome_label(t, outcome),
        report=found,
        chart_json=_json(_chart(found, t)),
        can_manage=campaign_policy.MANAGE.allows(actor),
        launchable=campaign.status == CampaignStatus.draft.value,
        cancellable=campaign.status in (CampaignStatus.draft.value, CampaignStatus.scheduled.value),
    )


@router.post("/{campaign_id:int}/launch")
def campaign_launch(
    campaign_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, campaign_policy.MANAGE)
    campaign = _get(session, campaign_id)
    try:
        service.launch(session, actor, campaign.id)
    except AlreadyLaunched:  # a second click: the campaign as it now is
        return redirect(f"{LIST_URL}/{campaign.id}")
    except PatronError as refused:
        raise ErrorPage(refused.status) from refused
    return redirect(f"{LIST_URL}/{campaign.id}", "flash.campaign_launched", name=campaign.name)


@router.post("/{campaign_id:int}/cancel")
def campaign_cancel(
    campaign_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, campaign_policy.MANAGE)
    campaign = _get(session, campaign_id)
    with error_page_on(PatronError):
        service.cancel(session, actor, campaign.id)
    return redirect(f"{LIST_URL}/{campaign.id}", "flash.campaign_cancelled", name=campaign.name)


@router.get("/{campaign_id:int}/report/export")
def campaign_report_export(
    campaign_id: int, session: Tx, actor: ConsoleActorDep, format: str = "csv"
) -> Response:
    require_console(actor, campaign_policy.VIEW)
    fmt = export.Format.xlsx if format == "xlsx" else export.Format.csv
    with error_page_on(CampaignNotFound):
        found = report.campaign_report(session, actor, campaign_id)
    return download(found, fmt)
