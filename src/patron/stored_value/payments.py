"""Paying with stored value: the member proves presence with their member code or their 6-digit
payment password; wrong answers in a row lock stored-value payments for a while. Orders pay
through `authorize` and `ledger.take`; other domains (count cards) through `pay`. An order
refund puts back its share of what the order took.

`VerificationFailed` and `StoredValueLocked` keep the failure count: the request's transaction
commits what was written before them. So a caller verifies before it writes anything of its
own (an order, a card, an audit entry), or that would be kept with the refusal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock, events
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.security import DUMMY_PASSWORD_HASH, hash_password, verify_password
from patron.core.settings import get_settings
from patron.members import codes
from patron.members.errors import MemberCodeInvalid
from patron.members.models import Member
from patron.orders.events import ORDER_REFUNDED, OrderRefunded
from patron.stored_value import ledger
from patron.stored_value.errors import (
    StoredValueLocked,
    VerificationFailed,
    VerificationRequired,
)
from patron.stored_value.models import StoredValueAccount, StoredValueEntry
from patron.stored_value.permissions import SET_PASSWORD

PASSWORD_DIGITS = 6


@dataclass(frozen=True)
class Verification:
    """What the member gave at the till: the code their app shows, or their payment password."""

    member_code: str | None = None
    password: str | None = None


def locked_until(account: StoredValueAccount | None) -> datetime | None:
    """When the account's lock-out ends; None when it is not locked now."""
    if account is None or account.locked_until is None:
        return None
    return account.locked_until if account.locked_until > clock.now() else None


def authorize(
    session: Session, member_id: int, amount: int, verification: Verification | None
) -> StoredValueAccount:
    """The member's account, locked, once the member is verified and holds `amount` fen.
    422 verification_required; 423 stored_value_locked; 422 verification_failed (counted; the
    last allowed failure locks instead); 409 insufficient_balance."""
    if verification is None or not (verification.member_code or verification.password):
        raise VerificationRequired(f"say who pays the {amount} fen: member code or password")
    account = ledger.lock_accounts(session, [member_id], active=True)[member_id]
    until = locked_until(account)
    if until is not None:
        raise StoredValueLocked(
            f"stored-value payments locked until {until.isoformat()}",
            locked_until=until.isoformat(),
        )
    if not _verified(session, account, verification):
        _count_failure(session, account)
    if account.failed_verifications or account.locked_until is not None:
        account.failed_verifications = 0
        account.locked_until = None
    ledger.check_balance(account, amount)
    return account


def pay(
    session: Session,
    actor: Actor,
    member_id: int,
    amount: int,
    store_id: int | None,
    verification: Verification | None,
    *,
    order_id: int | None = None,
    count_card_id: int | None = None,
) -> StoredValueEntry:
    """Verify the member, lock their account and spend `amount` fen at `store_id`: the one way
    other domains take stored value. Call it before writing anything (see the module's note);
    a document written afterwards can be linked by setting the entry's id column."""
    account = authorize(session, member_id, amount, verification)
    return ledger.take(
        session,
        account,
        amount,
        store_id=store_id,
        operator=actor.name,
        order_id=order_id,
        count_card_id=count_card_id,
    )


def _verified(session: Session, account: StoredValueAccount, given: Verification) -> bool:
    if given.member_code:
        try:
            member = codes.resolve_code(session, given.member_code)
        except MemberCodeInvalid:
            return False
        return member.id == account.member_id
    assert given.password is not None
    if account.password_hash is None:
        verify_password(DUMMY_PASSWORD_HASH, given.password)  # the same time either way
        return False
    return verify_password(account.password_hash, given.password)


def _count_failure(session: Session, account: StoredValueAccount) -> None:
    settings = get_settings()
    account.failed_verifications += 1
    if account.failed_verifications < settings.stored_value_verify_max_failures:
        session.flush()
        left = settings.stored_value_verify_max_failures - account.failed_verifications
        raise VerificationFailed(f"{left} more wrong answers lock stored-value payments")
    account.failed_verifications = 0
    account.locked_until = clock.now() + timedelta(minutes=settings.stored_value_lock_minutes)
    session.flush()
    until = account.locked_until.isoformat()
    raise StoredValueLocked(
        f"{settings.stored_value_verify_max_failures} wrong answers in a row; locked until {until}",
        locked_until=until,
    )


# --- the payment password ---------------------------------------------------------------------


def check_password(password: str) -> None:
    """Six ASCII digits, not all the same and not a straight run up or down (123456, 987654):
    the first guesses anyone tries."""
    if len(password) != PASSWORD_DIGITS or not password.isascii() or not password.isdigit():
        raise InvalidInput("password", "must be exactly 6 digits", code=Reason.bad_format)
    steps = {(int(b) - int(a)) % 10 for a, b in zip(password, password[1:], strict=False)}
    if steps in ({0}, {1}, {9}):
        raise InvalidInput(
            "password",
            "all the same digit or a straight run is too easy to guess",
            code=Reason.password_too_simple,
        )


def set_password(session: Session, actor: Actor, member_id: int, password: str) -> None:
    """Set (or replace) the member's payment password, at the till with the member present; it
    clears a lock-out. Audited without the password."""
    SET_PASSWORD.check(actor)
    check_password(password)
    account = ledger.lock_accounts(session, [member_id], active=True)[member_id]
    was_locked = locked_until(account) is not None
    replaced = account.password_hash is not None
    account.password_hash = hash_password(password)
    account.failed_verifications = 0
    account.locked_until = None
    session.flush()
    member = session.get(Member, member_id)
    audit.record(
        session,
        actor,
        "stored_value.password_set",
        "member",
        member_id,
        store_id=member.store_id if member else None,
        after={"replaced": replaced, "lock_cleared": was_locked},
    )


# --- order refunds ----------------------------------------------------------------------------


@ORDER_REFUNDED.subscribers.register("stored_value.reverse")
def _put_back(session: Session, event: events.Event[OrderRefunded]) -> None:
    """After refunds of R of the order's T fen, floor(R × S / T) of the S fen it took from stored
    value are back: partial refunds add up, and a full refund puts back all of it."""
    refund = event.payload
    spent = ledger.spent_by(session, refund.order_id)
    if spent is None:
        return
    _, taken, _ = spent
    left = ledger.order_take(session, refund.order_id)
    back = taken - (left.principal + left.bonus)
    due = refund.refunded_total * taken // refund.order_total - back
    if due > 0:
        ledger.reverse_spend(
            session,
            refund.order_id,
            due,
            refund.store_id,
            refund_id=refund.refund_id,
            operator=refund.operator,
        )
