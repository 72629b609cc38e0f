"""Growth value and tiers (成长值 / 会员等级): the ladder designer, the program's settings, the
distribution chart and the distribution per store, and one member's tier page (card, history,
growth entries, a tier set by hand). The member page's tier card is `member_card`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.console.choices import store_options
from patron.console.forms import NO_ERRORS, FormErrors, form_errors
from patron.console.i18n import Translator
from patron.console.member_pages import get_active_member, get_readable_member, member_url
from patron.console.message_ids import N_
from patron.console.order_pages import order_url
from patron.console.points_forms import read_int, refused, schema_errors, with_problems
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import PatronError
from patron.core.pagination import paginate
from patron.members.models import Member, MemberStatus
from patron.orders import service as orders
from patron.points.policy import add_months
from patron.reports import permissions as report_policy
from patron.stores import service as stores
from patron.tiers import growth, ladder, permissions, program, reports, standing
from patron.tiers.errors import TierNotFound
from patron.tiers.ladder import Rung
from patron.tiers.models import (
    ChangeReason,
    DowngradeMode,
    Evaluation,
    GrowthEntry,
    MemberTier,
    QualifyingMetric,
    Tier,
    TierChange,
)
from patron.tiers.schemas import ProgramIn, TierIn, tier_values

router = APIRouter()
TIERS_URL = f"{PREFIX}/tiers"
PROGRAM_URL = f"{TIERS_URL}/program"
PAGE_ROWS = 20
NUMBERS = ("rank", "entry_threshold", "retention_threshold", "discount_percent")
GIFTS = ("upgrade", "birthday")
TIER_FIELDS = (
    "code",
    "name",
    "name_en",
    *NUMBERS,
    "points_multiplier",
    *(f"{gift}_{part}" for gift in GIFTS for part in ("points", "coupons")),
)
ACTION_FIELDS = tuple(f"action_{action}" for action in program.ACTIONS)
PROGRAM_NUMBERS = ("grace_days", "growth_per_yuan", *ACTION_FIELDS)
# "12×1, 15×2": coupon template 12 once, template 15 twice.
COUPON_SPEC = re.compile(r"^(\d{1,18})\s*[×xX*]\s*(\d{1,3})$")

BUILT_IDS = (
    N_("tiers.reason.upgrade"),
    N_("tiers.reason.downgrade"),
    N_("tiers.reason.paid"),
    N_("tiers.reason.paid_lapsed"),
    N_("tiers.reason.manual"),
    N_("tiers.reason.merge"),
    N_("tiers.growth_kind.order"),
    N_("tiers.growth_kind.refund"),
    N_("tiers.growth_kind.action"),
    N_("tiers.growth_kind.adjust"),
    N_("tiers.growth_kind.merge_in"),
    N_("tiers.growth_kind.merge_out"),
    N_("tiers.gift.upgrade"),
    N_("tiers.gift.birthday"),
    N_("tiers.program.action.registration"),
    N_("tiers.program.action.profile_completed"),
    N_("tiers.program.action.check_in"),
    N_("tiers.metric.rolling_12m"),
    N_("tiers.metric.calendar_year"),
    N_("tiers.metric.lifetime"),
    N_("tiers.evaluation.anniversary"),
    N_("tiers.evaluation.monthly"),
    N_("tiers.downgrade.one_step"),
    N_("tiers.downgrade.to_earned"),
    N_("error.tier_code_taken"),
    N_("error.tier_rank_taken"),
    N_("error.retention_above_entry"),
    N_("error.base_tier_entry"),
    N_("error.base_tier_missing"),
    N_("error.thresholds_not_rising"),
    N_("error.unknown_tier"),
    N_("error.plan_grants_nothing"),
    N_("error.amount_needed"),
    N_("error.amount_not_for_tier"),
    N_("error.no_tier_discount"),
    N_("error.staff_no_tier_discount"),
    N_("error.tier_discount_exceeds_discounts"),
    N_("error.tier_discount_needs_member"),
    N_("flash.tier_created"),
    N_("flash.tier_saved"),
    N_("flash.tier_program_saved"),
    N_("flash.tier_set"),
)


def tiers_tabs(actor: Actor) -> dict[str, bool]:
    return {
        "program": permissions.VIEW_PROGRAM.allows(actor),
        "reports": report_policy.VIEW.allows(actor),
    }


def tier_name(rung: Any, lang: str) -> str:
    """The tier's name in the page's language (the Chinese one when it has no English one)."""
    return str(rung.name_en) if lang == "en" and rung.name_en else str(rung.name)


# --- the ladder -------------------------------------------------------------------------------


@router.get("/tiers")
def ladder_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, permissions.VIEW)
    return render(
        request,
        "tiers/ladder.html",
        tiers=ladder.list_tiers(session),
        editable=permissions.EDIT_LADDER.allows(actor),
        tabs=tiers_tabs(actor),
        tab="ladder",
    )


@router.get("/tiers/new")
def tier_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, permissions.EDIT_LADDER)
    tiers = ladder.list_tiers(session)
    rank = str(max((t.rank for t in tiers), default=-1) + 1)
    values = {"rank": rank, "discount_percent": "0", "points_multiplier": "1"}
    values |= {"entry_threshold": "0", "retention_threshold": "0"}
    return _tier_form(request, None, values, NO_ERRORS)


@router.post("/tiers/new")
def tier_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, permissions.EDIT_LADDER)
    return _tier_save(request, session, actor, None, form)


@router.get("/tiers/{tier_id:int}/edit")
def tier_edit(request: Request, tier_id: int, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, permissions.EDIT_LADDER)
    tier = _get_tier(session, tier_id)
    return _tier_form(request, tier, tier_form_values(tier), NO_ERRORS)


@router.post("/tiers/{tier_id:int}/edit")
def tier_update(
    request: Request, tier_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, permissions.EDIT_LADDER)
    return _tier_save(request, session, actor, _get_tier(session, tier_id), form)


def _get_tier(session: Session, tier_id: int) -> Tier:
    try:
        return ladder.get_tier(session, tier_id)
    except TierNotFound as error:
        raise ErrorPage(404) from error


def coupon_spec(gift: Mapping[str, Any]) -> str:
    return ", ".join(f"{c['template_id']}×{c.get('count', 1)}" for c in gift.get("coupons") or [])


def tier_form_values(tier: Tier) -> dict[str, str]:
    values = {name: str(getattr(tier, name)) for name in ("code", "name", "name_en", *NUMBERS)}
    values["points_multiplier"] = f"{tier.points_factor / 100:g}"
    for gift, saved in (("upgrade", tier.upgrade_gift), ("birthday", tier.birthday_gift)):
        values[f"{gift}_points"] = str(saved.get("points") or "")
        values[f"{gift}_coupons"] = coupon_spec(saved)
    return values


def _coupons(
    values: Mapping[str, str], name: str, problems: dict[str, str], t: Translator
) -> list[dict[str, int]]:
    coupons = []
    for part in filter(None, (p.strip() for p in re.split(r"[,，;；\s]+(?=\d)", values[name]))):
        found = COUPON_SPEC.match(part)
        if found is None:
            problems[name] = t("tiers.gift.coupons_format")
            return []
        coupons.append({"template_id": int(found[1]), "count": int(found[2])})
    return coupons


def tier_payload(values: Mapping[str, str], t: Translator) -> tuple[dict[str, Any], dict[str, str]]:
    """What the tier schema takes, from the form, and the inputs that do not parse."""
    problems: dict[str, str] = {}
    payload: dict[str, Any] = {name: values[name] for name in ("code", "name", "name_en")}
    for name in NUMBERS:
        payload[name] = read_int(values, name, problems, t)
    payload["points_multiplier"] = values["points_multiplier"] or "1"
    for gift in GIFTS:
        points = read_int(values, f"{gift}_points", problems, t, required=False)
        coupons = _coupons(values, f"{gift}_coupons", problems, t)
        payload[f"{gift}_gift"] = {"points": points or 0, "coupons": coupons}
    return payload, problems


def _tier_input(item: ErrorDetails) -> tuple[str, str | None]:
    return tier_input(".".join(str(part) for part in item["loc"])), None


def tier_input(field: str) -> str:
    """The form input a schema or service complaint names (`upgrade_gift.coupons.0.count`)."""
    head, _, rest = field.partition(".")
    if head in ("upgrade_gift", "birthday_gift"):
        gift = head.removesuffix("_gift")
        return f"{gift}_points" if rest.startswith("points") else f"{gift}_coupons"
    return "points_multiplier" if head == "points_factor" else head


def _tier_save(
    request: Request, session: Session, actor: Actor, tier: Tier | None, form: CheckedForm
) -> Response:
    t = t_for(request)
    values = {name: text(form, name) for name in TIER_FIELDS}
    payload, problems = tier_payload(values, t)
    try:
        data = TierIn.model_validate(payload)
    except ValidationError as error:
        errors = with_problems(schema_errors(error, t, _tier_input), problems, t)
        return _tier_form(request, tier, values, errors)
    if problems:
        return _tier_form(request, tier, values, refused(problems, t))
    try:
        with attempt(session):
            saved = ladder.save_tier(
                session, actor, tier_values(data, partial=False), tier.id if tier else None
            )
    except PatronError as error:
        errors = form_errors(error, t)
        fields = {tier_input(name): message for name, message in errors.fields.items()}
        return _tier_form(request, tier, values, replace(errors, fields=fields))
    flash = "flash.tier_saved" if tier else "flash.tier_created"
    return redirect(TIERS_URL, flash, saved.name)


def _tier_form(
    request: Request, tier: Tier | None, values: Mapping[str, str], errors: FormErrors
) -> HTMLResponse:
    return render(
        request,
        "tiers/tier_form.html",
        status=errors.status,
        tier=tier,
        values=values,
        errors=errors,
    )


# --- the program ------------------------------------------------------------------------------


def program_values(found: program.Program) -> dict[str, str]:
    values = {
        "metric": found.metric,
        "evaluation": found.evaluation,
        "downgrade": found.downgrade,
        "grace_days": str(found.grace_days),
        "growth_per_yuan": str(found.growth_per_yuan),
        "staff_discount": "on" if found.staff_discount else "",
    }
    return values | {f"action_{a}": str(found.for_action(a)) for a in program.ACTIONS}


@router.get("/tiers/program")
def program_page(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, permissions.VIEW_PROGRAM)
    values = program_values(program.program(session))
    return _program_form(request, actor, values, NO_ERRORS)


@router.post("/tiers/program")
def program_save(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, permissions.EDIT_PROGRAM)
    t = t_for(request)
    names = ("metric", "evaluation", "downgrade", *PROGRAM_NUMBERS, "staff_discount")
    values = {name: text(form, name) for name in names}
    problems: dict[str, str] = {}
    numbers = {name: read_int(values, name, problems, t) for name in PROGRAM_NUMBERS}
    payload = {
        "metric": values["metric"],
        "evaluation": values["evaluation"],
        "downgrade": values["downgrade"],
        "grace_days": numbers["grace_days"],
        "growth_per_yuan": numbers["growth_per_yuan"],
        "action_growth": {a: numbers[f"action_{a}"] for a in program.ACTIONS},
        "staff_discount": bool(values["staff_discount"]),
    }
    try:
        data = ProgramIn.model_validate(payload)
    except ValidationError as error:
        errors = with_problems(schema_errors(error, t, _program_input), problems, t)
        return _program_form(request, actor, values, errors)
    if problems:
        return _program_form(request, actor, values, refused(problems, t))
    with attempt(session):
        program.save_program(session, actor, data.model_dump())
    return redirect(PROGRAM_URL, "flash.tier_program_saved")


def _program_input(item: ErrorDetails) -> tuple[str, str | None]:
    loc = [str(part) for part in item["loc"]]
    return ("action_" + loc[1] if loc[0] == "action_growth" and len(loc) > 1 else loc[0]), None


def _program_form(
    request: Request, actor: Actor, values: Mapping[str, str], errors: FormErrors
) -> HTMLResponse:
    return render(
        request,
        "tiers/program.html",
        status=errors.status,
        values=values,
        errors=errors,
        editable=permissions.EDIT_PROGRAM.allows(actor),
        metrics=[m.value for m in QualifyingMetric],
        evaluations=[e.value for e in Evaluation],
        downgrades=[d.value for d in DowngradeMode],
        actions=program.ACTIONS,
        tabs=tiers_tabs(actor),
        tab="program",
    )


# --- the distribution -------------------------------------------------------------------------

CHART_REASONS = tuple(r.value for r in ChangeReason)
CHART_MONTHS = 12
STORES_URL = f"{TIERS_URL}/stores"


def last_months(months: int = CHART_MONTHS) -> tuple[date, date]:
    """The first business day of the month `months - 1` before this one, and today."""
    today = clock.today()
    return add_months(today.replace(day=1), 1 - months), today


@router.get("/tiers/distribution")
def distribution(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, report_policy.VIEW)
    t = t_for(request)
    first, last = last_months()
    report = reports.distribution(session, actor, first, last)
    rungs = ladder.ladder(session)
    per_tier = reports.members_per_tier(report)
    counts = [(rung, per_tier.get(rung.code, 0)) for rung in rungs]
    total = sum(members for _, members in counts)
    labels = reports.month_labels(first, last)
    per_month = reports.changes_per_month(report)
    chart = {
        "tiers": [tier_name(rung, t.lang) for rung in rungs],
        "members": [members for _, members in counts],
        "months": labels,
        "series": [
            {
                "name": t(f"tiers.reason.{reason}"),
                "data": [per_month.get(month, {}).get(reason, 0) for month in labels],
            }
            for reason in CHART_REASONS
        ],
        "labels": {"members": t("tiers.dist.members"), "movements": t("tiers.dist.movements")},
    }
    return render(
        request,
        "tiers/distribution.html",
        counts=[(rung, n, n * 100 / total if total else 0.0) for rung, n in counts],
        total=total,
        months=[(month, per_month[month]) for month in reversed(labels) if month in per_month],
        reasons=CHART_REASONS,
        chart_json=Markup(json.dumps(chart, ensure_ascii=False).replace("</", "<\\/")),
        tabs=tiers_tabs(actor),
        tab="distribution",
    )


@router.get("/tiers/stores")
def store_distribution(
    request: Request, session: Tx, actor: ConsoleActorDep, store: str = ""
) -> HTMLResponse:
    """Members per tier per store, and the tier movements per month of all the actor's stores'
    members or of one store's (`store`: its code)."""
    require_console(actor, report_policy.VIEW)
    t = t_for(request)
    options = store_options(session, actor)
    chosen = next((s for s in options if s.code == store), None)
    first, last = last_months()
    report = reports.distribution(session, actor, first, last)
    movements = report.movements
    if chosen is not None:
        movements = reports.distribution(session, actor, first, last, chosen.id).movements
    rungs = ladder.ladder(session)
    table: dict[int | None, dict[str, int]] = {}
    for holding in report.holdings:
        table.setdefault(holding.store_id, {})[holding.tier] = holding.members
    codes = stores.codes_by_id(session, (i for i in table if i is not None))
    return render(
        request,
        "tiers/stores.html",
        rungs=rungs,
        rows=[(codes.get(store_id) if store_id else None, row) for store_id, row in table.items()],
        store_names={s.code: s.name for s in options},
        tier_names={rung.code: tier_name(rung, t.lang) for rung in rungs},
        totals=reports.members_per_tier(report),
        movements=list(reversed(movements)),
        options=options,
        chosen=chosen,
        first=first,
        last=last,
        tabs=tiers_tabs(actor),
        tab="stores",
    )


# --- one member -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierCard:
    tier: Rung
    since: datetime
    review_at: datetime | None
    qualifying: int
    lifetime: int
    next_tier: Rung | None
    needed: int | None  # qualifying growth still needed for next_tier
    progress: float  # per cent of next_tier's entry threshold reached
    paid_until: datetime | None  # a live paid membership holds the tier until then


def member_card(session: Session, member: Member) -> TierCard | None:
    """The member's place on the ladder; None when tiers are off."""
    found = standing.standings(session, [member.id]).get(member.id)
    if found is None:
        return None
    now = clock.now()
    qualifying = growth.qualifying_growth(session, member.id, program.program(session).metric, now)
    higher = ladder.above(ladder.ladder(session), found.tier.rank)
    needed = max(0, higher.entry_threshold - qualifying) if higher else None
    progress = min(100.0, max(0.0, qualifying * 100 / higher.entry_threshold)) if higher else 100.0
    row = session.get(MemberTier, member.id) if found.paid else None
    return TierCard(
        tier=found.tier,
        since=found.since or member.registered_at,
        review_at=found.review_at,
        qualifying=qualifying,
        lifetime=found.lifetime_growth,
        next_tier=higher,
        needed=needed,
        progress=progress,
        paid_until=row.paid_until if row else None,
    )


def member_tier_url(member_id: int) -> str:
    return f"{PREFIX}/members/{member_id}/tier"


@router.get("/members/{member_id:int}/tier")
def member_tier(
    request: Request,
    member_id: int,
    session: Tx,
    actor: ConsoleActorDep,
    history_cursor: str = "",
    growth_cursor: str = "",
) -> HTMLResponse:
    require_console(actor, permissions.VIEW)
    member = get_readable_member(session, actor, member_id)
    cursors = (history_cursor or None, growth_cursor or None)
    return _member_tier_page(request, session, actor, member, cursors, {}, NO_ERRORS)


@router.post("/members/{member_id:int}/tier")
def member_tier_set(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """HQ sets the member's tier by hand, with a reason (history `manual`, audited)."""
    require_console(actor, permissions.SET_TIER)
    t = t_for(request)
    member = get_active_member(session, actor, member_id)
    values = {"tier_code": text(form, "tier_code"), "reason": text(form, "reason")}
    if not values["reason"]:
        errors = refused({"reason": t("invalid.missing")}, t)
        return _member_tier_page(request, session, actor, member, (None, None), values, errors)
    try:
        with attempt(session):
            found = standing.set_tier(
                session, actor, member.id, values["tier_code"], values["reason"]
            )
    except PatronError as error:
        errors = form_errors(error, t)
        return _member_tier_page(request, session, actor, member, (None, None), values, errors)
    return redirect(member_tier_url(member.id), "flash.tier_set", tier_name(found.tier, t.lang))


def _member_tier_page(
    request: Request,
    session: Session,
    actor: Actor,
    member: Member,
    cursors: tuple[str | None, str | None],
    values: Mapping[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    t = t_for(request)
    try:
        changes = paginate(
            session,
            select(TierChange).where(TierChange.member_id == member.id),
            TierChange.id,
            cursors[0],
            PAGE_ROWS,
        )
        entries = paginate(
            session,
            select(GrowthEntry).where(GrowthEntry.member_id == member.id),
            GrowthEntry.id,
            cursors[1],
            PAGE_ROWS,
        )
    except PatronError as error:  # a cursor typed by hand
        raise ErrorPage(400) from error
    names = {tier.id: tier_name(tier, t.lang) for tier in ladder.list_tiers(session)}
    store_ids = {e.store_id for e in entries.items if e.store_id is not None}
    url = request.url
    return render(
        request,
        "tiers/member.html",
        status=errors.status,
        member=member,
        member_page=member_url(member.id),
        card=member_card(session, member),
        names=names,
        changes=changes.items,
        entries=entries.items,
        order_numbers=orders.order_numbers(session, (e.order_id for e in entries.items)),
        order_url=order_url,
        store_codes=stores.codes_by_id(session, store_ids),
        next_history=_page_url(url, "history_cursor", changes.next_cursor),
        next_growth=_page_url(url, "growth_cursor", entries.next_cursor),
        first_page=url.path if any(cursors) else None,
        can_set=permissions.SET_TIER.allows(actor) and member.status == MemberStatus.active,
        tiers=ladder.list_tiers(session),
        values=values,
        errors=errors,
    )


def _page_url(url: Any, name: str, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    moved = url.include_query_params(**{name: cursor})
    return f"{moved.path}?{moved.query}"
