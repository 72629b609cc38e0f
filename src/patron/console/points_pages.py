"""Points (积分): the policy, the earning rules, the queue of adjustments awaiting a second HQ
user, the liability report, and one member's full ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.catalog import service as catalog
from patron.console.catalog_pages import CategoryNode, category_tree
from patron.console.choices import store_options
from patron.console.forms import NO_ERRORS, FormErrors, form_errors
from patron.console.member_pages import get_readable_member, member_url
from patron.console.order_pages import MemberRef, member_refs
from patron.console.points_forms import (
    KEPT_CONDITIONS,
    AttributeChoice,
    category_caps_text,
    kept_attributes,
    new_rule_values,
    offered_attributes,
    policy_changes,
    policy_errors,
    policy_values,
    read_policy,
    read_rule,
    refused,
    rule_errors,
    rule_payload,
    rule_values,
    with_problems,
)
from patron.console.points_view import (
    BIRTHDAY_CHOICES,
    WEEKDAYS,
    caps_text,
    conditions_text,
    effect_text,
    entry_rows,
    signed,
)
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
from patron.core.actor import Actor
from patron.core.errors import Conflict, Forbidden, InvalidInput, PatronError
from patron.deps import WriteSessionDep
from patron.members import attributes as member_attributes
from patron.members import presenters, privacy
from patron.members.schemas import AttributeOut
from patron.orders import service as orders_service
from patron.orders.models import OrderChannel
from patron.points import adjustments
from patron.points import errors as points_errors
from patron.points import permissions as points_permissions
from patron.points import policy as points_policy
from patron.points import queries as points_queries
from patron.points import rules as points_rules
from patron.points.models import ExpiryPolicy, PointsPolicy, PointsRule, RuleEffect
from patron.points.schemas import PolicyUpdate, RuleIn
from patron.stores import service as stores
from patron.stores.models import Store

router = APIRouter()
POINTS_URL = f"{PREFIX}/points"
POLICY_URL = f"{POINTS_URL}/policy"
RULES_URL = f"{POINTS_URL}/rules"
QUEUE_URL = f"{POINTS_URL}/adjustments"
HISTORY_SIZE = 20


def history_url(member_id: int) -> str:
    return f"{member_url(member_id)}/points"


# --- policy -------------------------------------------------------------------------------------


@router.get("/points/policy")
def policy_page(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, points_permissions.VIEW_PROGRAM)
    policy = points_policy.get_policy(session)
    return _policy_page(request, actor, policy, policy_values(policy), NO_ERRORS)


@router.post("/points/policy")
def policy_save(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, points_permissions.EDIT_POLICY)
    t = t_for(request)
    policy = points_policy.get_policy(session)
    values = read_policy(form)
    changes, problems = policy_changes(values, policy, t)
    try:
        data = PolicyUpdate.model_validate(changes)
    except ValidationError as error:
        errors = with_problems(policy_errors(error, t), problems, t)
        return _policy_page(request, actor, policy, values, errors)
    if problems:
        return _policy_page(request, actor, policy, values, refused(problems, t))
    if not changes:
        return redirect(POLICY_URL, "flash.points_policy_unchanged")
    try:
        with attempt(session):
            points_policy.update_policy(session, actor, data.changes())
    except PatronError as error:
        return _policy_page(request, actor, policy, values, form_errors(error, t))
    return redirect(POLICY_URL, "flash.points_policy_saved")


def _policy_page(
    request: Request,
    actor: Actor,
    policy: PointsPolicy,
    values: dict[str, Any],
    errors: FormErrors,
) -> HTMLResponse:
    return render(
        request,
        "points/policy.html",
        status=errors.status,
        policy=policy,
        values=values,
        errors=errors,
        expiry_policies=list(ExpiryPolicy),
        category_caps_text=category_caps_text,
        editable=points_permissions.EDIT_POLICY.allows(actor),
    )


# --- earning rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    rule: PointsRule
    conditions: list[str]
    effect: str
    caps: list[str]


@router.get("/points/rules")
def rule_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, points_permissions.VIEW_PROGRAM)
    t = t_for(request)
    rules = points_rules.list_rules(session)
    store_ids = {i for rule in rules for i in (rule.conditions or {}).get("store_ids") or ()}
    codes = stores.codes_by_id(session, store_ids)
    categories = {c.id: c.name for c in catalog.list_categories(session)}
    labels = {d.code: d.label for d in member_attributes.list_attributes(session)}
    rows = [
        RuleRow(
            rule,
            conditions_text(_labelled(rule.conditions or {}, labels), t, codes, categories),
            effect_text(rule, t),
            caps_text(rule, t),
        )
        for rule in rules
    ]
    return render(request, "points/rules.html", rows=rows)


def _labelled(conditions: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """The conditions with member attributes named by their labels (肤质 rather than skin_type)."""
    attributes = conditions.get("attributes")
    if not attributes:
        return dict(conditions)
    named = {labels.get(code, code): value for code, value in attributes.items()}
    return {**conditions, "attributes": named}


@dataclass(frozen=True)
class RuleChoices:
    """What the rule form offers: the stores, the category tree and the member attributes."""

    stores: list[Store]
    nodes: list[CategoryNode]
    attributes: list[AttributeOut]

    @classmethod
    def load(cls, session: Session, actor: Actor) -> RuleChoices:
        return cls(
            store_options(session, actor),
            category_tree(catalog.list_categories(session)),
            [presenters.attribute_out(d) for d in member_attributes.list_attributes(session)],
        )

    def offered(self, rule: PointsRule | None) -> list[AttributeChoice]:
        """The attribute inputs for `rule` (None for a new one)."""
        return offered_attributes(self.attributes, _saved_attributes(rule))


def _saved_attributes(rule: PointsRule | None) -> dict[str, Any]:
    saved = ((rule.conditions or {}) if rule else {}).get("attributes")
    return saved if isinstance(saved, dict) else {}


@router.get("/points/rules/new")
def rule_new(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, points_permissions.EDIT_RULES)
    choices = RuleChoices.load(session, actor)
    return _rule_form(request, None, choices, new_rule_values(), NO_ERRORS)


@router.post("/points/rules/new")
def rule_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, points_permissions.EDIT_RULES)
    return _rule_save(request, session, actor, None, form)


@router.get("/points/rules/{rule_id:int}/edit")
def rule_edit(request: Request, rule_id: int, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, points_permissions.EDIT_RULES)
    rule = _get_rule(session, rule_id)
    choices = RuleChoices.load(session, actor)
    values = rule_values(rule, choices.offered(rule))
    return _rule_form(request, rule, choices, values, NO_ERRORS)


@router.post("/points/rules/{rule_id:int}/edit")
def rule_update(
    request: Request, rule_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, points_permissions.EDIT_RULES)
    return _rule_save(request, session, actor, _get_rule(session, rule_id), form)


@router.post("/points/rules/{rule_id:int}/toggle")
def rule_toggle(rule_id: int, session: Tx, actor: ConsoleActorDep, _form: CheckedForm) -> Response:
    """Switch a rule on or off from the list, leaving the rest of it as it is."""
    require_console(actor, points_permissions.EDIT_RULES)
    rule = _get_rule(session, rule_id)
    with error_page_on(PatronError):
        points_rules.save_rule(session, actor, {"active": not rule.active}, rule.id)
    flash = "flash.rule_enabled" if rule.active else "flash.rule_disabled"
    return redirect(RULES_URL, flash, name=rule.name)


def _get_rule(session: Session, rule_id: int) -> PointsRule:
    # The service lists the rules, a short list, and opens none by id.
    rule = next((r for r in points_rules.list_rules(session) if r.id == rule_id), None)
    if rule is None:
        raise ErrorPage(404)
    return rule


def _rule_save(
    request: Request, session: Session, actor: Actor, rule: PointsRule | None, form: CheckedForm
) -> Response:
    t = t_for(request)
    choices = RuleChoices.load(session, actor)
    offered = choices.offered(rule)
    values = read_rule(form, offered)
    payload, problems = rule_payload(
        values,
        (rule.conditions or {}) if rule else {},
        {store.id for store in choices.stores},
        {node.category.id for node in choices.nodes},
        t,
        offered,
    )
    try:
        data = RuleIn.model_validate(payload)
    except ValidationError as error:
        errors = with_problems(rule_errors(error, values, t), problems, t)
        return _rule_form(request, rule, choices, values, errors)
    if problems:
        return _rule_form(request, rule, choices, values, refused(problems, t))
    try:
        with attempt(session):
            saved = points_rules.save_rule(
                session, actor, data.model_dump(mode="json"), rule.id if rule else None
            )
    except PatronError as error:
        return _rule_form(request, rule, choices, values, form_errors(error, t))
    flash = "flash.rule_updated" if rule else "flash.rule_created"
    return redirect(RULES_URL, flash, name=saved.name)


def _rule_form(
    request: Request,
    rule: PointsRule | None,
    choices: RuleChoices,
    values: dict[str, object],
    errors: FormErrors,
) -> HTMLResponse:
    saved = (rule.conditions or {}) if rule else {}
    offered = choices.offered(rule)
    kept: dict[str, Any] = {name: saved[name] for name in KEPT_CONDITIONS if saved.get(name)}
    if other := kept_attributes(offered, _saved_attributes(rule)):
        kept["attributes"] = other
    labels = {d.code: d.label for d in choices.attributes}
    t = t_for(request)
    return render(
        request,
        "points/rule_form.html",
        status=errors.status,
        rule=rule,
        values=values,
        errors=errors,
        store_options=choices.stores,
        nodes=choices.nodes,
        channels=list(OrderChannel),
        weekdays=WEEKDAYS,
        birthdays=BIRTHDAY_CHOICES,
        effects=list(RuleEffect),
        attributes=offered,
        kept=conditions_text(_labelled(kept, labels), t, {}, {}) if kept else [],
    )


# --- adjustments awaiting approval --------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    id: int
    member_id: int
    member: MemberRef | None
    points: str
    reason: str
    requested_by: str
    store_code: str | None
    # The viewer asked for it: another HQ user must decide.
    own: bool
    at: datetime


@router.get("/points/adjustments")
def adjustment_queue(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, points_permissions.VIEW_PROGRAM)
    pending = adjustments.pending_adjustments(session)
    refs = member_refs(session, actor, (a.member_id for a in pending))
    codes = stores.codes_by_id(session, {a.store_id for a in pending if a.store_id is not None})
    rows = [
        QueueRow(
            id=a.id,
            member_id=a.member_id,
            member=refs.get(a.member_id),
            points=signed(a.points),
            reason=a.reason,
            requested_by=a.requested_by,
            store_code=codes.get(a.store_id) if a.store_id is not None else None,
            own=actor.kind == "staff" and a.requested_by_id == actor.id,
            at=a.created_at,
        )
        for a in pending
    ]
    return render(
        request,
        "points/adjustments.html",
        rows=rows,
        threshold=points_policy.get_policy(session).approval_threshold,
        can_decide=points_permissions.DECIDE_ADJUSTMENT.allows(actor),
    )


@router.post("/points/adjustments/{adjustment_id:int}/approve")
def adjustment_approve(
    adjustment_id: int, session: Tx, actor: ConsoleActorDep, _form: CheckedForm
) -> Response:
    return _decide(session, actor, adjustment_id, approve=True)


@router.post("/points/adjustments/{adjustment_id:int}/reject")
def adjustment_reject(
    adjustment_id: int, session: Tx, actor: ConsoleActorDep, _form: CheckedForm
) -> Response:
    return _decide(session, actor, adjustment_id, approve=False)


def _decide(session: Session, actor: Actor, adjustment_id: int, approve: bool) -> Response:
    """Approve or reject, and say so (or why not) on the queue the decision was made from."""
    require_console(actor, points_permissions.DECIDE_ADJUSTMENT)
    name = f"#{adjustment_id}"
    try:
        with attempt(session):
            adjustment = adjustments.decide_adjustment(session, actor, adjustment_id, approve)
    except points_errors.AdjustmentNotFound as error:
        raise ErrorPage(404) from error
    except Forbidden:
        return redirect(QUEUE_URL, "flash.error.own_adjustment", name=name)
    except points_errors.InsufficientPoints:
        return redirect(QUEUE_URL, "flash.error.adjustment_insufficient", name=name)
    except Conflict:
        return redirect(QUEUE_URL, "flash.error.adjustment_decided", name=name)
    flash = "flash.adjustment_approved" if approve else "flash.adjustment_rejected"
    return redirect(QUEUE_URL, flash, name=f"{name} ({signed(adjustment.points)})")


# --- liability ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareRow:
    key: str
    label: str
    name: str
    points: int
    # Of the total, in per cent; and the bar's length against the largest row.
    share: float
    bar: float


def _share_rows(items: Iterable[tuple[str, str, str, int]], total: int) -> list[ShareRow]:
    listed = list(items)
    widest = max((points for *_, points in listed), default=0)
    return [
        ShareRow(
            key,
            label,
            name,
            points,
            points * 100 / total if total else 0.0,
            points * 100 / widest if widest else 0.0,
        )
        for key, label, name, points in listed
    ]


@router.get("/points/liability")
def liability_page(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, points_permissions.VIEW_LIABILITY)
    t = t_for(request)
    report = points_queries.liability(session)
    by_id = {store.id: store for store in store_options(session, actor)}
    months = _share_rows(
        (
            (month, t("points.never_expires") if month == "never" else month, "", points)
            for month, points in report.by_expiry_month.items()
        ),
        report.points,
    )

    def store_label(store_id: int | None) -> tuple[str, str]:
        if store_id is None:
            return "—", t("points.no_store")
        store = by_id.get(store_id)
        return (store.code, store.name) if store else (f"#{store_id}", "")

    by_store = sorted(report.by_store.items(), key=lambda item: (-item[1], item[0] or 0))
    store_rows = _share_rows(
        ((str(store_id), *store_label(store_id), points) for store_id, points in by_store),
        report.points,
    )
    return render(
        request,
        "points/liability.html",
        report=report,
        policy=points_policy.get_policy(session),
        months=months,
        store_rows=store_rows,
    )


# --- one member's ledger ------------------------------------------------------------------------


@router.get("/members/{member_id:int}/points")
def member_points(
    request: Request,
    member_id: int,
    session: WriteSessionDep,
    actor: ConsoleActorDep,
    cursor: str = "",
) -> HTMLResponse:
    member = get_readable_member(session, actor, member_id)
    with error_page_on(InvalidInput):
        page = points_queries.entries(session, member.id, cursor or None, HISTORY_SIZE)
    codes = stores.codes_by_id(session, {e.store_id for e in page.items if e.store_id})
    numbers = orders_service.order_numbers(session, (e.order_id for e in page.items))
    return render(
        request,
        "points/history.html",
        member=member,
        shown=presenters.present(session, member, privacy.reveal_pii(session, actor, member)),
        balance=points_queries.balance(session, member.id),
        rows=entry_rows(page.items, t_for(request), actor, codes, numbers),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )
