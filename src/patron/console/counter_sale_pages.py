"""储值消费 at a till without a POS: an order of one line (the counter-sale sku) paid wholly from
the member's stored value, through the order intake, so that it earns, refunds and settles like
any order; and the member's payment password, set at the till with the member there."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.coupon_forms import read_fen
from patron.console.forms import FormErrors, form_errors, parse_id
from patron.console.i18n import Translator
from patron.console.member_pages import get_readable_member
from patron.console.member_stored_value_pages import Section, stored_value_page
from patron.console.message_ids import N_
from patron.console.points_forms import refused, schema_errors, with_problems
from patron.console.stored_value_pages import member_sv_url
from patron.console.web import (
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    redirect,
    require_console,
    t_for,
    text,
)
from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import PatronError
from patron.core.settings import get_settings
from patron.members.models import Member, MemberStatus
from patron.orders import permissions as order_policy
from patron.orders import service as orders_service
from patron.orders.schemas import OrderCreate
from patron.stored_value import payments
from patron.stored_value import permissions as sv_policy
from patron.stored_value.errors import (
    MemberCodeUsed,
    StoredValueLocked,
    VerificationFailed,
    VerificationRequired,
)
from patron.stored_value.payments import PASSWORD_DIGITS

router = APIRouter(prefix="/members")
SPEND_FIELDS = ("store_id", "amount", "receipt", "verify_by", "code", "password", "sale_no")
VERIFY_BY = ("member_code", "password")
BUILT_IDS = (
    N_("sv.spend.verify_by.member_code"),
    N_("sv.spend.verify_by.password"),
    N_("error.verification_required"),
    N_("error.verification_failed"),
    N_("error.member_code_used"),
    N_("error.not_home_store"),
    N_("error.stored_value_locked"),
)


@router.post("/{member_id:int}/stored-value/spend")
def spend(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """One order of one counter-sale line, paid in full from stored value after the member's
    code or payment password. A refused verification is counted (and may lock payments), so
    this write runs without a savepoint: the intake refuses before it writes anything."""
    require_console(actor, order_policy.RECORD)
    t = t_for(request)
    member = get_readable_member(session, actor, member_id)
    if member.status != MemberStatus.active:
        raise ErrorPage(409, "error.member_not_active")
    values = {name: text(form, name) for name in SPEND_FIELDS}
    problems: dict[str, str] = {}
    amount = read_fen(values, "amount", problems, t)
    if amount is None and "amount" not in problems:
        problems["amount"] = t("invalid.missing")
    store_id = parse_id(values["store_id"])
    if store_id is None:
        problems["store_id"] = t("invalid.missing")
    given = values["code"] if values["verify_by"] == "member_code" else values["password"]
    if not given:
        problems["code" if values["verify_by"] == "member_code" else "password"] = t(
            "invalid.missing"
        )
    number = values["receipt"] or values["sale_no"]
    payload = _order(member.id, store_id, amount or 0, number, values["verify_by"], given, t)
    try:
        data = OrderCreate.model_validate(payload)
    except ValidationError as error:
        errors = with_problems(schema_errors(error, t, _spend_field), problems, t)
        return _again(request, session, actor, member, values, errors)
    if problems:
        return _again(request, session, actor, member, values, refused(problems, t))
    try:
        order = orders_service.create_order(session, actor, data)
    except orders_service.OrderExists:
        return redirect(member_sv_url(member.id), "flash.error.sv_sale_exists", number)
    except (VerificationFailed, StoredValueLocked) as error:
        field = "code" if values["verify_by"] == "member_code" else "password"
        errors = form_errors(error, t)
        errors = refused({field: errors.message or ""}, t, status=error.status)
        return _again(request, session, actor, member, values, errors)
    except PatronError as error:
        return _again(request, session, actor, member, values, form_errors(error, t))
    return redirect(member_sv_url(member.id), "flash.sv_spent", f"{t.yuan(order.total)} · {number}")


def _order(
    member_id: int,
    store_id: int | None,
    amount: int,
    number: str,
    verify_by: str,
    given: str,
    t: Translator,
) -> dict[str, Any]:
    verification = {"member_code": given} if verify_by == "member_code" else {"password": given}
    return {
        "external_id": number,
        "store_id": store_id,
        "channel": "pos",
        "member_id": member_id,
        "occurred_at": clock.now(),
        "items": [
            {
                "sku": get_settings().counter_sale_sku,
                "name": t("sv.spend.line_name"),
                "quantity": 1,
                "unit_price": amount,
                "paid": amount,
            }
        ],
        "payments": [{"method": "stored_value", "amount": amount, "verification": verification}],
    }


def _spend_field(item: Any) -> tuple[str, str | None]:
    loc = [str(part) for part in item["loc"]]
    if loc and loc[0] == "external_id":
        return "receipt", None
    if loc and loc[0] == "store_id":
        return "store_id", None
    return "amount", None


def _again(
    request: Request,
    session: Session,
    actor: Actor,
    member: Member,
    values: dict[str, str],
    errors: FormErrors,
) -> Response:
    return stored_value_page(request, session, actor, member, spend=Section(values, errors))


@router.post("/{member_id:int}/stored-value/password")
def set_password(
    request: Request, member_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    """The member types a 6-digit payment password twice; replacing one, they first prove it is
    them with the old password or their member code (a wrong one counts toward the lock-out).
    It clears a lock-out."""
    require_console(actor, sv_policy.SET_PASSWORD)
    t = t_for(request)
    member = get_readable_member(session, actor, member_id)
    values = {name: text(form, name) for name in ("proof", "new_password", "repeat")}
    if values["new_password"] != values["repeat"]:
        errors = refused({"repeat": t("sv.password.mismatch")}, t)
        return stored_value_page(request, session, actor, member, password=Section({}, errors))
    try:
        with attempt(session):
            payments.set_password(
                session, actor, member.id, values["new_password"], _proof(values["proof"])
            )
    except PatronError as error:
        errors = form_errors(error, t)
        if isinstance(error, PROOF_REFUSALS):
            errors = refused({"proof": errors.message or ""}, t, status=error.status)
        elif "password" in errors.fields:
            errors = refused({"new_password": errors.fields["password"]}, t)
        return stored_value_page(request, session, actor, member, password=Section({}, errors))
    return redirect(member_sv_url(member.id), "flash.sv_password_set")


PROOF_REFUSALS = (VerificationRequired, VerificationFailed, MemberCodeUsed, StoredValueLocked)


def _proof(given: str) -> payments.Verification | None:
    """The old password (6 digits) or the member code (18) the member gave; None: nothing."""
    if not given:
        return None
    if len(given) == PASSWORD_DIGITS:
        return payments.Verification(password=given)
    return payments.Verification(member_code=given)
