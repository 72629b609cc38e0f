"""One member: profile, points, member code, identities, consent, guide, attributes and timeline;
adjusting the member's points; and for HQ admins the PIPL export, erasure and merging a duplicate
into this member."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.choices import guide_suggestions
from patron.console.coupon_forms import pasted_recipients
from patron.console.forms import NO_ERRORS, FormErrors, parse_enum, parse_id
from patron.console.i18n import Translator, has_key
from patron.console.member_coupons import HeldCoupons, held_coupons
from patron.console.member_forms import field_errors, guide_by_username, member_errors
from patron.console.member_pages import (
    LIST_URL,
    get_active_member,
    get_member,
    get_readable_member,
    member_url,
)
from patron.console.order_pages import order_url
from patron.console.points_forms import adjustment_errors, read_int, with_problems
from patron.console.points_view import (
    entry_rows,
    kind_label,
    reason_text,
    signed,
)
from patron.console.qr import qr_svg
from patron.console.tag_pages import member_panel
from patron.console.tier_pages import member_card
from patron.console.web import (
    PAGE_HEADERS,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    redirect,
    render,
    require_console,
    settings_of,
    t_for,
    text,
)
from patron.core import clock, idempotency
from patron.core.actor import Actor
from patron.core.errors import NotFound, PatronError
from patron.coupons import gifting, holding
from patron.coupons import permissions as coupon_policy
from patron.coupons.models import Coupon
from patron.coupons.schemas import VoidIn
from patron.deps import WriteSessionDep
from patron.members import attributes, guides, identities, presenters, privacy, registry
from patron.members import codes as member_codes
from patron.members import consents as member_consents
from patron.members import merge as members_merge
from patron.members import permissions as member_policy
from patron.members import timeline as member_timeline
from patron.members.errors import IdentityTaken
from patron.members.models import ConsentChannel, IdentityType, Member, MemberStatus
from patron.members.schemas import (
    EraseRequest,
    GuideChange,
    IdentityIn,
    MemberCodeOut,
    MemberOut,
    normalize_mobile,
)
from patron.orders import service as orders
from patron.points import adjustments
from patron.points import errors as points_errors
from patron.points import permissions as points_permissions
from patron.points import policy as points_policy
from patron.points import queries as points_queries
from patron.points.models import AdjustmentStatus
from patron.points.schemas import AdjustmentIn
from patron.profiles import service as profiles
from patron.staff import service as staff
from patron.stored_value import queries as sv_queries
from patron.stores import service as stores

router = APIRouter(prefix="/members")
# The member page shows this many of the member's latest orders, and links to the rest.
RECENT_ORDERS = 10
# And this many of the latest lines of the member's points ledger.
RECENT_ENTRIES = 5
ADJUST_KEY_FIELD = "adjust_key"


# --- the detail page --------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    kind: str
    text: str
    details: list[tuple[str, str]] = field(default_factory=list)
    # Where the text leads (an order), when the viewer may open it.
    url: str | None = None


@dataclass(frozen=True)
class Section:
    """What one form on the detail page shows after a refused submission."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: FormErrors = NO_ERRORS


NO_SECTION = Section()


@router.get("/{member_id:int}")
def member_detail(
    request: Request,
    member_id: int,
    session: WriteSessionDep,
    actor: ConsoleActorDep,
    coupons: str = "",
    coupon_cursor: str = "",
) -> HTMLResponse:
    member = get_readable_member(session, actor, member_id)
    held = held_coupons(request, session, member.id, coupons, coupon_cursor)
    return _detail(request, session, actor, member, held=held)


def _detail(
    request: Request,
    session: Session,
    actor: Actor,
    member: Member,
    code: MemberCodeOut | None = None,
    identity: Section = NO_SECTION,
    guide: Section = NO_SECTION,
    adjust: Section = NO_SECTION,
    held: HeldCoupons | None = None,
) -> HTMLResponse:
    t = t_for(request)
    if held is None:
        held = held_coupons(request, session, member.id, "", "")
    shown = presenters.present(session, member, privacy.reveal_pii(session, actor, member))
    history = guides.guide_history(session, member.id)
    events = member_timeline.timeline(session, actor, member.id)
    staff_ids = {member.guide_id, member.opening_guide_id}
    staff_ids |= {g.guide_id for g in history} | {g.previous_guide_id for g in history}
    for event in events:
        staff_ids |= {event.data.get("guide_id"), event.data.get("previous_guide_id")}
    usernames = staff.usernames_by_id(session, [i for i in staff_ids if isinstance(i, int)])
    # The member's latest orders in the viewer's stores.
    recent = orders.list_orders(
        session, actor, orders.OrderFilter(member_id=member.id), None, RECENT_ORDERS
    )
    # Points: the balance now, the latest ledger lines, and adjustments awaiting a second user.
    balance = points_queries.balance(session, member.id)
    ledger = points_queries.entries(session, member.id, None, RECENT_ENTRIES)
    awaiting = [a for a in adjustments.pending_adjustments(session) if a.member_id == member.id]
    store_ids = {member.store_id} | {event.data.get("store_id") for event in events}
    store_ids |= {order.store_id for order in recent.items}
    store_ids |= {entry.store_id for entry in ledger.items}
    codes = stores.codes_by_id(session, [i for i in store_ids if isinstance(i, int)])
    # A refund event names its order; the order's event (when shown) names the store.
    order_stores = {
        event.data["order_id"]: event.data["store_id"]
        for event in events
        if event.kind == "order" and isinstance(event.data.get("store_id"), int)
    }
    labels = {d.code: d.label for d in attributes.list_attributes(session)}
    consents = {c.channel: c for c in shown.consents}
    status = max(
        identity.errors.status, guide.errors.status, adjust.errors.status, held.errors.status
    )
    expires = code.expires_at.astimezone(settings_of(request).tz) if code else None
    return render(
        request,
        "members/detail.html",
        status=status,
        # Refused forms and the member code answer a POST; the language switch returns here.
        here=member_url(member.id),
        member=member,
        shown=shown,
        # The forms (edit, member code, identities, consent, guide, points adjustment) change the
        # member: the stores that manage the member have them; a store that serves a member
        # registered elsewhere reads the page without them.
        active=member.status == MemberStatus.active and registry.visible(actor, member),
        store=_store(session, actor, member),
        store_code=codes.get(member.store_id) if member.store_id else None,
        store_codes=codes,
        usernames=usernames,
        consents=[(channel, consents.get(channel)) for channel in ConsentChannel],
        attributes=[(labels.get(code, code), value) for code, value in shown.attributes.items()],
        history=list(reversed(history)),
        timeline=[_timeline_row(e, t, usernames, codes, actor, order_stores) for e in events],
        orders=recent.items,
        more_orders=recent.next_cursor is not None,
        identity_types=list(IdentityType),
        identity=identity,
        guide=guide,
        guide_options=guide_suggestions(session, actor),
        code=code,
        code_svg=qr_svg(code.code, t("members.code")) if code else None,
        code_expires=expires.strftime("%H:%M:%S") if expires else None,
        points_balance=balance,
        point_rows=entry_rows(
            ledger.items,
            t,
            actor,
            codes,
            orders.order_numbers(session, (e.order_id for e in ledger.items)),
        ),
        awaiting=[(a, signed(a.points)) for a in awaiting],
        approval_threshold=points_policy.get_policy(session).approval_threshold,
        adjust=adjust,
        # A fresh key for every rendering of the form: submitting it twice adjusts once.
        adjust_key=secrets.token_urlsafe(24),
        coupons=held,
        member_tags=member_panel(session, member),
        stored_value=sv_queries.balance(session, member.id),
        tier=member_card(session, member),
        member_profile=profiles.member_profile(session, member.id, clock.now()),
    )


def _store(session: Session, actor: Actor, member: Member) -> Any:
    if member.store_id is None:
        return None
    try:
        return stores.get_store(session, actor, member.store_id)
    except NotFound:
        return None


def _timeline_row(
    event: member_timeline.TimelineEvent,
    t: Translator,
    usernames: dict[int, str],
    codes: dict[int, str],
    actor: Actor,
    order_stores: dict[Any, int],
) -> TimelineRow:
    kind_key = f"timeline.kind.{event.kind}"
    kind = t(kind_key) if has_key(kind_key) else event.kind
    data = event.data

    def channel_label(prefix: str) -> str:
        value = str(data.get("channel", ""))
        return t(prefix + value) if has_key(prefix + value) else value

    def staff_name(key: str) -> str:
        staff_id = data.get(key)
        return usernames.get(staff_id, f"#{staff_id}") if isinstance(staff_id, int) else "—"

    if event.summary == "registered":
        store_id = data.get("store_id")
        store = codes.get(store_id, "—") if isinstance(store_id, int) else "—"
        text_ = t("timeline.registered", store=store, channel=channel_label("channel."))
        return TimelineRow(event.at, kind, text_)
    if event.summary in ("consent_granted", "consent_withdrawn"):
        text_ = t(f"timeline.{event.summary}", channel=channel_label("consent_channel."))
        return TimelineRow(
            event.at, kind, text_, [(t("members.consent_source"), str(data.get("source", "")))]
        )
    if event.summary == "guide_assigned":
        details = [(t("members.previous_guide"), staff_name("previous_guide_id"))]
        if data.get("reason"):
            details.append((t("members.reason"), str(data["reason"])))
        if data.get("guide_id") is None:
            return TimelineRow(event.at, kind, t("timeline.guide_removed"), details)
        guide = staff_name("guide_id")
        return TimelineRow(event.at, kind, t("timeline.guide_assigned", guide=guide), details)
    if event.kind in ("order", "refund"):
        return _order_row(event, kind, t, codes, actor, order_stores)
    if event.kind == "points":
        return _points_row(event, kind, t)
    if event.kind == "tag" and has_key(f"timeline.tag.{event.summary}"):
        return TimelineRow(event.at, kind, t(f"timeline.tag.{event.summary}", tag=data["tag"]))
    if event.kind == "coupon" and has_key(f"timeline.coupon.{event.summary}"):
        return _coupon_row(event, kind, t, actor, order_stores)
    # A kind a later domain adds (coupons, tiers, ...): shown as the domain wrote it.
    return TimelineRow(event.at, kind, event.summary, [(k, str(v)) for k, v in data.items()])


def _order_row(
    event: member_timeline.TimelineEvent,
    kind: str,
    t: Translator,
    codes: dict[int, str],
    actor: Actor,
    order_stores: dict[Any, int],
) -> TimelineRow:
    """A purchase or a refund, linked to its order when it lies in the viewer's stores."""
    data = event.data
    order_id = data.get("order_id")
    store_id = order_stores.get(order_id)
    url = order_url(order_id) if isinstance(order_id, int) and actor.sees_store(store_id) else None
    if event.kind == "refund":
        amount = t.yuan(data["amount"]) if isinstance(data.get("amount"), int) else "—"
        return TimelineRow(event.at, kind, t("timeline.refund", amount=amount), url=url)
    total = t.yuan(data["total"]) if isinstance(data.get("total"), int) else "—"
    store = codes.get(store_id, "—") if store_id is not None else "—"
    channel = str(data.get("channel", ""))
    details = []
    if has_key(f"order_channel.{channel}"):
        details.append((t("field.order_channel"), t(f"order_channel.{channel}")))
    text_ = t("timeline.order", amount=total, store=store)
    return TimelineRow(event.at, kind, text_, details, url=url)


def _points_row(event: member_timeline.TimelineEvent, kind: str, t: Translator) -> TimelineRow:
    """A change of the points balance other than an earning (the timeline leaves those to the
    orders): "使用 -500 分", with the reason."""
    amount = event.data.get("points")
    shown, count = (signed(amount), abs(amount)) if isinstance(amount, int) else ("—", 0)
    kind_text = kind_label(event.summary, t)
    text_ = t.ngettext("timeline.points", "timeline.points", count, kind=kind_text, points=shown)
    data = event.data
    partner, paid = data.get("merge_partner_id"), data.get("debt_paid")
    reason = reason_text(event.summary, str(data.get("reason") or ""), partner, paid or 0, t)
    details = [(t("points.note"), reason)] if reason else []
    return TimelineRow(event.at, kind, text_, details)


def _coupon_row(
    event: member_timeline.TimelineEvent,
    kind: str,
    t: Translator,
    actor: Actor,
    order_stores: dict[Any, int],
) -> TimelineRow:
    """A coupon issued to the member, redeemed with an order, given or received."""
    data = event.data
    code = str(data.get("code", ""))
    if event.summary == "issued":
        source = f"coupon_source.{data.get('source')}"
        details = [(t("coupons.member.source"), t(source) if has_key(source) else "—")]
        text_ = t("timeline.coupon.issued", template=str(data.get("template", "")), code=code)
        return TimelineRow(event.at, kind, text_, details)
    if event.summary == "redeemed":
        order_id = data.get("order_id")
        url = None
        if isinstance(order_id, int) and actor.sees_store(order_stores.get(order_id)):
            url = order_url(order_id)
        amount = t.yuan(data["discount"]) if isinstance(data.get("discount"), int) else "—"
        text_ = t("timeline.coupon.redeemed", code=code, amount=amount)
        return TimelineRow(event.at, kind, text_, url=url)
    other = data.get("to_member_id") if event.summary == "given" else data.get("from_member_id")
    text_ = t(f"timeline.coupon.{event.summary}", code=code, member=f"#{other}")
    return TimelineRow(event.at, kind, text_)


# --- member code ------------------------------------------------------------------------------


@router.post("/{member_id:int}/code")
def member_code(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, _form: CheckedForm
) -> HTMLResponse:
    member = get_active_member(session, actor, member_id)
    with error_page_on(PatronError):
        code = member_codes.issue_code(session, actor, member.id)
    return _detail(request, session, actor, member, code=code)


# --- identities -------------------------------------------------------------------------------


@router.post("/{member_id:int}/identities")
def identity_add(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, member_policy.WRITE)
    t = t_for(request)
    member = get_active_member(session, actor, member_id)
    values = {name: text(form, name) for name in ("type", "value", "issuer")}
    try:
        data = IdentityIn.model_validate(values)
        with attempt(session):
            identities.add_identity(session, actor, member, data)
    except IdentityTaken:
        errors = field_errors({"value": t("error.identity_taken")}, t, status=409)
    except (ValidationError, PatronError) as error:
        errors = member_errors(error, t)
    else:
        return redirect(member_url(member.id), "flash.identity_added", name=t_type(t, data.type))
    return _detail(request, session, actor, member, identity=Section(values, errors))


def t_type(t: Translator, kind: IdentityType) -> str:
    return t(f"identity_type.{kind.value}")


@router.post("/{member_id:int}/identities/{identity_id:int}/delete")
def identity_remove(
    request: Request,
    member_id: int,
    identity_id: int,
    session: Tx,
    actor: ConsoleActorDep,
    _form: CheckedForm,
) -> Response:
    require_console(actor, member_policy.WRITE)
    get_active_member(session, actor, member_id)
    with error_page_on(NotFound):
        identities.remove_identity(session, actor, member_id, identity_id)
    return redirect(member_url(member_id), "flash.identity_removed")


# --- consent ----------------------------------------------------------------------------------


@router.post("/{member_id:int}/consents")
def consent_set(member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm) -> Response:
    require_console(actor, member_policy.WRITE)
    member = get_active_member(session, actor, member_id)
    channel = parse_enum(ConsentChannel, text(form, "channel"))
    granted = text(form, "granted")
    if channel is None or granted not in ("1", "0"):
        raise ErrorPage(400)
    with error_page_on(PatronError):
        member_consents.set_consent(session, actor, member.id, channel, granted == "1", "console")
    flash = "flash.consent_granted" if granted == "1" else "flash.consent_withdrawn"
    return redirect(member_url(member.id), flash)


# --- guide --------------------------------------------------------------------------------------


@router.post("/{member_id:int}/guide")
def guide_reassign(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, member_policy.ASSIGN_GUIDES)
    t = t_for(request)
    member = get_active_member(session, actor, member_id)
    values = {"guide": text(form, "guide"), "reason": text(form, "reason")}
    guide_id = guide_by_username(session, values["guide"]) if values["guide"] else None
    try:
        data = GuideChange.model_validate({"guide_id": guide_id, "reason": values["reason"]})
        if values["guide"] and guide_id is None:
            errors = field_errors({"guide": t("reason.guide")}, t)
            return _detail(request, session, actor, member, guide=Section(values, errors))
        with attempt(session):
            guides.reassign_guide(session, actor, member.id, data.guide_id, data.reason)
    except (ValidationError, PatronError) as error:
        errors = member_errors(error, t)
        return _detail(request, session, actor, member, guide=Section(values, errors))
    return redirect(member_url(member.id), "flash.guide_changed", name=values["guide"] or "—")


# --- points -------------------------------------------------------------------------------------


@router.post("/{member_id:int}/points/adjustments")
def points_adjust(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """Add or deduct points by hand: small amounts apply at once, from the policy's approval
    threshold up they wait for a second HQ user in the approval queue."""
    require_console(actor, points_permissions.REQUEST_ADJUSTMENT)
    t = t_for(request)
    member = get_active_member(session, actor, member_id)
    key = text(form, ADJUST_KEY_FIELD)
    if not key or len(key) > idempotency.MAX_KEY_LENGTH:
        raise ErrorPage(400)
    values = {"points": text(form, "points"), "reason": text(form, "reason")}
    problems: dict[str, str] = {}
    amount = read_int(values, "points", problems, t)
    # Store staff adjust for their store, which the audit log and the liability report show;
    # HQ adjusts for the chain.
    store_id = None if actor.all_stores else member.store_id
    try:
        # Points that are not a whole number reach the schema as missing; the problem says why.
        data = AdjustmentIn.model_validate(
            {"points": amount, "reason": values["reason"], "store_id": store_id}
        )

        def work() -> tuple[int, dict[str, Any]]:
            done = adjustments.request_adjustment(
                session, actor, member.id, data.points, data.reason, data.store_id
            )
            return 201, {"points": done.points, "status": done.status}

        scope = f"console adjustment {member.id}"
        with attempt(session):
            outcome = idempotency.run_once(
                session, actor, key, scope, data.model_dump(mode="json"), work
            )
    except points_errors.InsufficientPoints as error:
        available = error.extra.get("available")
        count = available if isinstance(available, int) else 0
        shown = t.num(available) if isinstance(available, int) else "—"
        message = t.ngettext(
            "reason.points_insufficient", "reason.points_insufficient", count, available=shown
        )
        errors = field_errors({"points": message}, t, status=409)
    except (ValidationError, PatronError) as error:
        errors = with_problems(adjustment_errors(error, t), problems, t)
    else:
        applied = outcome.body["status"] == AdjustmentStatus.applied
        flash = "flash.points_adjusted" if applied else "flash.points_adjustment_pending"
        if outcome.replayed:
            flash = "flash.points_adjustment_replayed"
        return redirect(member_url(member.id), flash, name=signed(int(outcome.body["points"])))
    return _detail(request, session, actor, member, adjust=Section(values, errors))


# --- coupons: void, transfer -------------------------------------------------------------------


@router.post("/{member_id:int}/coupons/{code}/void")
def coupon_void(
    request: Request,
    member_id: int,
    code: str,
    session: Tx,
    actor: ConsoleActorDep,
    form: CheckedForm,
) -> Response:
    require_console(actor, coupon_policy.VOID)
    t = t_for(request)
    member = get_active_member(session, actor, member_id)
    coupon = _held_coupon(session, actor, member, code)
    values = {"reason": text(form, "reason")}
    try:
        data = VoidIn.model_validate(values)
        with attempt(session):
            gifting.void_coupon(session, actor, coupon.code, data.reason)
    except (ValidationError, PatronError) as error:
        errors = member_errors(error, t)
        return _coupon_refused(
            request, session, actor, member, ("void", coupon.code), values, errors
        )
    return redirect(member_url(member.id), "flash.coupon_voided", name=coupon.code)


@router.post("/{member_id:int}/coupons/{code}/transfer")
def coupon_transfer(
    request: Request,
    member_id: int,
    code: str,
    session: Tx,
    actor: ConsoleActorDep,
    form: CheckedForm,
) -> Response:
    """Give the coupon to another member, named by member id or mobile."""
    require_console(actor, coupon_policy.TRANSFER)
    t = t_for(request)
    member = get_active_member(session, actor, member_id)
    coupon = _held_coupon(session, actor, member, code)
    values = {"to": text(form, "to")}
    opened = ("transfer", coupon.code)
    to_member_id = _transfer_target(session, values["to"])
    if to_member_id is None:
        errors = field_errors({"to": t("error.member_not_found")}, t)
        return _coupon_refused(request, session, actor, member, opened, values, errors)
    try:
        with attempt(session):
            gifting.transfer_coupon(session, actor, coupon.code, to_member_id)
    except PatronError as error:
        errors = member_errors(error, t)
        if "to_member_id" in errors.fields:
            errors = field_errors({"to": errors.fields["to_member_id"]}, t, status=errors.status)
        return _coupon_refused(request, session, actor, member, opened, values, errors)
    return redirect(member_url(member.id), "flash.coupon_transferred", name=f"#{to_member_id}")


def _held_coupon(session: Session, actor: Actor, member: Member, code: str) -> Coupon:
    """The coupon with this code, when this member holds it."""
    with error_page_on(NotFound):
        coupon = holding.get_coupon(session, actor, code)
    if coupon.member_id != member.id:
        raise ErrorPage(404)
    return coupon


def _transfer_target(session: Session, typed: str) -> int | None:
    """The member a transfer names: by member id, or by mobile."""
    named = pasted_recipients(typed)
    if len(named) != 1:
        return None
    (recipient,) = named
    if recipient.mobile is None:
        return recipient.member_id
    try:
        mobile = normalize_mobile(recipient.mobile)
    except ValueError:
        return None
    return registry.ids_by_mobile(session, [mobile]).get(mobile)


def _coupon_refused(
    request: Request,
    session: Session,
    actor: Actor,
    member: Member,
    opened: tuple[str, str],
    values: dict[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    held = held_coupons(request, session, member.id, "", "")
    held = replace(held, open=opened, values=values, errors=errors)
    return _detail(request, session, actor, member, held=held)


# --- HQ admin: PIPL export, erasure, merge ------------------------------------------------------


@router.post("/{member_id:int}/export")
def member_export(
    member_id: int, session: Tx, actor: ConsoleActorDep, _form: CheckedForm
) -> Response:
    require_console(actor, member_policy.EXPORT)
    with error_page_on(NotFound):
        data = privacy.export_member(session, actor, member_id)
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    headers = PAGE_HEADERS | {
        "Content-Disposition": f'attachment; filename="member-{member_id}.json"'
    }
    return Response(body, media_type="application/json", headers=headers)


@router.get("/{member_id:int}/erase")
def erase_confirm(
    request: Request, member_id: int, session: WriteSessionDep, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, member_policy.ERASE)
    member = get_member(session, actor, member_id)
    values = {"reason": t_for(request)("members.erase_reason_default")}
    return _erase_page(request, session, actor, member, values, NO_ERRORS)


@router.post("/{member_id:int}/erase")
def member_erase(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, member_policy.ERASE)
    t = t_for(request)
    member = get_member(session, actor, member_id)
    values = {"reason": text(form, "reason")}
    try:
        data = EraseRequest.model_validate(values)
        with attempt(session):
            privacy.erase_member(session, actor, member.id, data.reason or "—")
    except (ValidationError, PatronError) as error:
        errors = member_errors(error, t)
        return _erase_page(request, session, actor, member, values, errors)
    return redirect(member_url(member.id), "flash.member_erased", name=str(member.id))


def _erase_page(
    request: Request,
    session: Session,
    actor: Actor,
    member: Member,
    values: dict[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    return render(
        request,
        "members/erase.html",
        status=errors.status,
        member=member,
        shown=presenters.present(session, member, privacy.reveal_pii(session, actor, member)),
        values=values,
        errors=errors,
    )


@router.get("/{member_id:int}/merge")
def merge_page(
    request: Request,
    member_id: int,
    session: WriteSessionDep,
    actor: ConsoleActorDep,
    source: str = "",
) -> HTMLResponse:
    require_console(actor, member_policy.MERGE)
    t = t_for(request)
    target = get_active_member(session, actor, member_id)
    values = {"source_id": source.strip()}
    if not values["source_id"]:
        return _merge_page(request, session, actor, target, None, values, NO_ERRORS)
    candidate, problem = _merge_source(session, actor, target, values["source_id"])
    errors = field_errors({"source_id": t(problem)}, t) if problem else NO_ERRORS
    return _merge_page(request, session, actor, target, candidate, values, errors)


def _merge_source(
    session: Session, actor: Actor, target: Member, raw: str
) -> tuple[Member | None, str | None]:
    """The member to fold into `target`, or the key of why it cannot be."""
    source_id = parse_id(raw)
    if source_id is None:
        return None, "error.member_not_found"
    try:
        source = registry.get_member(session, actor, source_id)
    except NotFound:
        return None, "error.member_not_found"
    if source.id == target.id:
        return None, "reason.merge_self"
    if source.status != MemberStatus.active:
        return None, "error.member_not_active"
    return source, None


@router.post("/{member_id:int}/merge")
def member_merge(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, member_policy.MERGE)
    t = t_for(request)
    target = get_active_member(session, actor, member_id)
    values = {"source_id": text(form, "source_id")}
    source_id = parse_id(values["source_id"])
    if source_id is None:
        errors = field_errors({"source_id": t("error.member_not_found")}, t)
        return _merge_page(request, session, actor, target, None, values, errors)
    try:
        with attempt(session):
            members_merge.merge_members(session, actor, source_id, target.id)
    except PatronError as error:
        errors = member_errors(error, t)
        return _merge_page(request, session, actor, target, None, values, errors)
    return redirect(member_url(target.id), "flash.member_merged", name=str(source_id))


def _merge_page(
    request: Request,
    session: Session,
    actor: Actor,
    target: Member,
    source: Member | None,
    values: dict[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    shown: MemberOut = presenters.present(
        session, target, privacy.reveal_pii(session, actor, target)
    )
    return render(
        request,
        "members/merge.html",
        status=errors.status,
        member=target,
        shown=shown,
        source=presenters.present(session, source, privacy.reveal_pii(session, actor, source))
        if source
        else None,
        values=values,
        errors=errors,
        list_url=LIST_URL,
    )
