"""One member's stored value: the balance (principal, bonus), the statement, and what the till
and finance do with it: recharge (a package or an amount), the cooling-off refund of a recharge,
and the account refund."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.choices import store_options
from patron.console.coupon_forms import read_fen
from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_id
from patron.console.i18n import Translator
from patron.console.member_pages import get_readable_member, member_url
from patron.console.points_forms import refused, schema_errors, with_problems
from patron.console.stored_value_pages import member_sv_url
from patron.console.stored_value_view import entry_rows, in_cooling_off, package_face
from patron.console.web import (
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
from patron.core import clock, idempotency
from patron.core.actor import Actor
from patron.core.errors import InvalidInput, PatronError
from patron.core.pagination import paginate
from patron.core.settings import get_settings
from patron.members import presenters, privacy
from patron.members.models import Member, MemberStatus
from patron.orders import permissions as order_policy
from patron.orders import service as orders_service
from patron.stored_value import errors as sv_errors
from patron.stored_value import packages, recharges
from patron.stored_value import permissions as sv_policy
from patron.stored_value import queries as sv_queries
from patron.stored_value.models import (
    PackageStatus,
    Recharge,
    RechargeStatus,
    StoredValueEntry,
)
from patron.stored_value.schemas import AccountRefundIn, RechargeIn, RechargeMethod
from patron.stores import service as stores

router = APIRouter(prefix="/members")
STATEMENT_SIZE = 20
RECENT_RECHARGES = 10
KEY_FIELD = "form_key"
RECHARGE_FIELDS = (
    "store_id",
    "package_id",
    "amount",
    "method",
    "reference",
    "real_name",
    "id_number",
)
# The store input's value for a recharge or refund at HQ (online), for actors of every store.
HQ_STORE = "hq"


@dataclass(frozen=True)
class Section:
    """A form on the page: what was typed and why it was refused."""

    values: Mapping[str, str] = field(default_factory=dict)
    errors: FormErrors = NO_ERRORS


NO_SECTION = Section()


@dataclass(frozen=True)
class RechargeRow:
    recharge: Recharge
    package_name: str | None
    store_code: str | None
    refundable: bool


# --- the page ---------------------------------------------------------------------------------


@router.get("/{member_id:int}/stored-value")
def member_stored_value(
    request: Request,
    member_id: int,
    session: Tx,
    actor: ConsoleActorDep,
    cursor: str = "",
) -> HTMLResponse:
    member = get_readable_member(session, actor, member_id)
    return stored_value_page(request, session, actor, member, cursor=cursor)


def stored_value_page(
    request: Request,
    session: Session,
    actor: Actor,
    member: Member,
    *,
    cursor: str = "",
    recharge: Section = NO_SECTION,
    refund: Section = NO_SECTION,
    spend: Section = NO_SECTION,
    password: Section = NO_SECTION,
) -> HTMLResponse:
    t = t_for(request)
    # The prepaid-card rules as the service applies them.
    settings = get_settings()
    with error_page_on(InvalidInput):
        page = paginate(
            session,
            sv_queries.entries(member.id),
            StoredValueEntry.id,
            cursor or None,
            STATEMENT_SIZE,
        )
    recent = sv_queries.recent_recharges(session, member.id, RECENT_RECHARGES)
    store_ids = {e.store_id for e in page.items} | {r.store_id for r in recent}
    codes = stores.codes_by_id(session, [i for i in store_ids if i is not None])
    offered = [p for p in packages.list_packages(session) if p.status == PackageStatus.active]
    names = {p.id: p.name for p in packages.list_packages(session)}
    days = settings.stored_value_cooling_off_days
    active = member.status == MemberStatus.active
    status = max(s.errors.status for s in (recharge, refund, spend, password))
    held = sv_queries.balance(session, member.id)
    return render(
        request,
        "stored_value/member.html",
        status=status,
        here=member_sv_url(member.id),
        member=member,
        shown=presenters.present(session, member, privacy.reveal_pii(session, actor, member)),
        balance=held,
        rows=entry_rows(
            page.items,
            t,
            actor,
            codes,
            orders_service.order_numbers(session, (e.order_id for e in page.items)),
        ),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
        recharges=[
            RechargeRow(
                r,
                names.get(r.package_id) if r.package_id else None,
                codes.get(r.store_id) if r.store_id else None,
                r.status == RechargeStatus.completed and in_cooling_off(r.created_at, days),
            )
            for r in recent
        ],
        packages=[(p, package_face(p, t)) for p in offered],
        store_options=store_options(session, actor),
        hq_store=HQ_STORE if actor.all_stores else None,
        methods=list(RechargeMethod),
        real_name_from=settings.stored_value_real_name_from,
        cap=settings.stored_value_cap,
        cooling_off_days=days,
        can_recharge=active and sv_policy.RECHARGE.allows(actor),
        can_refund_recharge=sv_policy.REFUND_RECHARGE.allows(actor),
        can_refund_account=sv_policy.REFUND_ACCOUNT.allows(actor),
        recharge=recharge if recharge.values else Section(_new_recharge(actor, member)),
        refund=refund,
        can_spend=active and order_policy.RECORD.allows(actor),
        spend=spend if spend.values else Section(_new_spend(actor, member)),
        can_set_password=active
        and sv_policy.SET_PASSWORD.allows(actor)
        and actor.sees_store(member.store_id),
        password_set=held.has_password,
        password=password,
        verify_by=("member_code", "password"),
        form_key=secrets.token_urlsafe(24),
        member_page=member_url(member.id),
    )


def _new_spend(actor: Actor, member: Member) -> dict[str, str]:
    """The counter sale's first values, its order number minted with the form (a double
    submit is the same order)."""
    store = _new_recharge(actor, member)["store_id"]
    return {"store_id": store, "verify_by": "member_code", "sale_no": new_sale_number()}


def new_sale_number() -> str:
    """The order number of a counter sale when no receipt number is typed."""
    return f"CS{clock.now().astimezone(clock.business_tz()):%Y%m%d%H%M}{secrets.token_hex(3)}"


def _new_recharge(actor: Actor, member: Member) -> dict[str, str]:
    """The recharge form's first values: the member's store when the actor works there."""
    store = member.store_id if member.store_id and actor.sees_store(member.store_id) else None
    if store is None and actor.store_ids:
        store = min(actor.store_ids)
    return {"store_id": str(store) if store else "", "method": RechargeMethod.wechat_pay.value}


# --- recharge ---------------------------------------------------------------------------------


@router.post("/{member_id:int}/stored-value/recharge")
def recharge(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """Pay in an amount or buy a package, with the payment's method and reference; the
    prepaid-card rules (cap, real name) refuse in the form. The form's key makes a double
    submit recharge once."""
    require_console(actor, sv_policy.RECHARGE)
    t = t_for(request)
    member = get_readable_member(session, actor, member_id)
    if member.status != MemberStatus.active:
        raise ErrorPage(409, "error.member_not_active")
    key = _form_key(form)
    values = {name: text(form, name) for name in RECHARGE_FIELDS}
    payload, problems = recharge_payload(values, t)
    try:
        data = RechargeIn.model_validate(payload)
    except ValidationError as error:
        errors = with_problems(schema_errors(error, t, _recharge_field), problems, t)
        return stored_value_page(request, session, actor, member, recharge=Section(values, errors))
    if problems:
        errors = refused(problems, t)
        return stored_value_page(request, session, actor, member, recharge=Section(values, errors))

    def work() -> tuple[int, dict[str, Any]]:
        real_name = (
            recharges.RealName(data.real_name.name, data.real_name.id_number)
            if data.real_name
            else None
        )
        record = recharges.recharge(
            session,
            actor,
            member.id,
            data.store_id,
            recharges.Payment(data.payment.method.value, data.payment.reference),
            amount=data.amount,
            package_id=data.package_id,
            real_name=real_name,
        )
        return 201, {"principal": record.principal, "bonus": record.bonus}

    try:
        with attempt(session):
            outcome = idempotency.run_once(
                session,
                actor,
                key,
                f"console recharge {member.id}",
                data.model_dump(mode="json"),
                work,
            )
    except PatronError as error:
        errors = recharge_errors(error, t)
        return stored_value_page(request, session, actor, member, recharge=Section(values, errors))
    total = int(outcome.body["principal"]) + int(outcome.body["bonus"])
    return redirect(member_sv_url(member.id), "flash.sv_recharged", t.yuan(total))


def _form_key(form: CheckedForm) -> str:
    key = text(form, KEY_FIELD)
    if not key or len(key) > idempotency.MAX_KEY_LENGTH:
        raise ErrorPage(400)
    return key


def _store_id(values: Mapping[str, str], problems: dict[str, str], t: Translator) -> int | None:
    raw = values.get("store_id", "")
    if raw == HQ_STORE:
        return None
    store_id = parse_id(raw)
    if store_id is None:
        problems["store_id"] = t("invalid.missing")
    return store_id


def recharge_payload(
    values: Mapping[str, str], t: Translator
) -> tuple[dict[str, Any], dict[str, str]]:
    """The API's recharge body from the form: a chosen package wins over a typed amount."""
    problems: dict[str, str] = {}
    payload: dict[str, Any] = {
        "store_id": _store_id(values, problems, t),
        "payment": {"method": values["method"], "reference": values["reference"]},
    }
    package_id = parse_id(values["package_id"]) if values["package_id"] else None
    if package_id is not None:
        payload["package_id"] = package_id
    else:
        amount = read_fen(values, "amount", problems, t)
        if amount is None and "amount" not in problems:
            problems["amount"] = t("sv.recharge.amount_or_package")
        payload["amount"] = amount
    if values["real_name"] or values["id_number"]:
        payload["real_name"] = {"name": values["real_name"], "id_number": values["id_number"]}
    return payload, problems


def _recharge_field(item: Any) -> tuple[str, str | None]:
    """Where the recharge form shows a schema complaint."""
    loc = [str(part) for part in item["loc"]]
    if not loc:
        return "amount", None
    if loc[0] == "payment":
        return ("method" if loc[-1] == "method" else "reference"), None
    if loc[0] == "real_name":
        return ("real_name" if loc[-1] == "name" else "id_number"), None
    return loc[0], None


def recharge_errors(error: PatronError, t: Translator) -> FormErrors:
    """The prepaid-card rules in plain words: the cap with the balance, the real-name
    threshold beside the real-name inputs."""
    if isinstance(error, sv_errors.BalanceCapExceeded):
        balance, cap = error.extra.get("balance"), error.extra.get("cap")
        message = t(
            "sv.error.cap",
            balance=t.yuan(balance if isinstance(balance, int) else None),
            cap=t.yuan(cap if isinstance(cap, int) else None),
        )
        return FormErrors(message=message, status=error.status)
    if isinstance(error, sv_errors.RealNameRequired):
        threshold = error.extra.get("threshold")
        shown = t.yuan(threshold if isinstance(threshold, int) else None)
        message = t("sv.error.real_name", threshold=shown)
        fields = {"real_name": message, "id_number": message}
        return FormErrors(message=message, fields=fields, status=error.status)
    return form_errors(error, t)


# --- refunds ----------------------------------------------------------------------------------


@router.post("/{member_id:int}/stored-value/recharges/{recharge_id:int}/refund")
def recharge_refund(
    request: Request,
    member_id: int,
    recharge_id: int,
    session: Tx,
    actor: ConsoleActorDep,
    _form: CheckedForm,
) -> Response:
    """The cooling-off refund of one whole recharge; the service says whether it may."""
    require_console(actor, sv_policy.REFUND_RECHARGE)
    member = get_readable_member(session, actor, member_id)
    t = t_for(request)
    here = member_sv_url(member.id)
    name = f"#{recharge_id}"
    if sv_queries.recharge_of(session, member.id, recharge_id) is None:
        raise ErrorPage(404)
    try:
        with attempt(session):
            record = recharges.refund_recharge(session, actor, recharge_id)
    except sv_errors.RechargeNotFound as error:
        raise ErrorPage(404) from error
    except sv_errors.RechargeUsed:
        return redirect(here, "flash.error.sv_recharge_used", name)
    except sv_errors.CoolingOffOver:
        return redirect(here, "flash.error.sv_cooling_off_over", name)
    except sv_errors.RechargeRefunded:
        return redirect(here, "flash.error.sv_recharge_refunded", name)
    return redirect(here, "flash.sv_recharge_refunded", t.yuan(record.principal))


@router.post("/{member_id:int}/stored-value/refund")
def account_refund(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """Finance pays out the remaining principal; the bonus lapses."""
    require_console(actor, sv_policy.REFUND_ACCOUNT)
    t = t_for(request)
    member = get_readable_member(session, actor, member_id)
    values = {"store_id": text(form, "store_id"), "reason": text(form, "reason")}
    problems: dict[str, str] = {}
    payload = {"store_id": _store_id(values, problems, t), "reason": values["reason"]}
    if not values["reason"]:
        problems["reason"] = t("invalid.missing")
    try:
        data = AccountRefundIn.model_validate(payload)
    except ValidationError as error:
        errors = with_problems(schema_errors(error, t, _plain_field), problems, t)
        return stored_value_page(request, session, actor, member, refund=Section(values, errors))
    if problems:
        return stored_value_page(
            request, session, actor, member, refund=Section(values, refused(problems, t))
        )
    try:
        with attempt(session):
            entry = recharges.refund_account(session, actor, member.id, data.store_id, data.reason)
    except PatronError as error:
        errors = form_errors(error, t)
        return stored_value_page(request, session, actor, member, refund=Section(values, errors))
    return redirect(member_sv_url(member.id), "flash.sv_account_refunded", t.yuan(-entry.principal))


def _plain_field(item: Any) -> tuple[str, str | None]:
    return (str(item["loc"][0]) if item["loc"] else "reason"), None
