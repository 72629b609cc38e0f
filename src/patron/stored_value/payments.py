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
from typing import NoReturn

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock, events
from patron.core.actor import Actor, Role
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.security import DUMMY_PASSWORD_HASH, hash_password, verify_password
from patron.core.settings import get_settings
from patron.members import codes, privacy
from patron.members.errors import MemberCodeInvalid
from patron.members.models import Member
from patron.orders.events import ORDER_REFUNDED, OrderRefunded
from patron.stored_value import ledger
from patron.stored_value.errors import (
    MemberCodeUsed,
    NotHomeStore,
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
    session: Session,
    member_id: int,
    amount: int,
    verification: Verification | None,
    *,
    proven: bool = False,
) -> StoredValueAccount:
    """The member's account, locked, once the member is verified and holds `amount` fen.
    `proven`: the member was verified for this payment already (a checkout quote took their
    code or password); the service's word, never a request's. 422 verification_required; 423
    stored_value_locked; 422 verification_failed (counted; the last allowed failure locks
    instead); 422 member_code_used (a code pays once; not counted); 409 insufficient_balance."""
    if proven and verification is None:
        account = ledger.lock_accounts(session, [member_id], active=True)[member_id]
        _refuse_while_locked(account)
    else:
        if verification is None or not (verification.member_code or verification.password):
            raise VerificationRequired(f"say who pays the {amount} fen: member code or password")
        early = _check_before_lock(session, member_id, verification)
        account = ledger.lock_accounts(session, [member_id], active=True)[member_id]
        _verify(session, account, verification, early)
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


@dataclass(frozen=True)
class _Checked:
    """A password checked before the account lock, against the hash read then (None: unset)."""

    password_hash: str | None
    right: bool


def _check_before_lock(session: Session, member_id: int, given: Verification) -> _Checked | None:
    """Argon2 takes a while: check a password against the hash read without the row lock, so
    other payments of the member do not wait for it. None: nothing checked (a member code, or
    the account is locked)."""
    if not given.password:
        return None
    row = session.execute(
        select(StoredValueAccount.password_hash, StoredValueAccount.locked_until).where(
            StoredValueAccount.member_id == member_id
        )
    ).one_or_none()
    if row is not None and row.locked_until is not None and row.locked_until > clock.now():
        return None
    stored = row.password_hash if row is not None else None
    if stored is None:
        verify_password(DUMMY_PASSWORD_HASH, given.password)  # the same time either way
        return _Checked(None, False)
    return _Checked(stored, verify_password(stored, given.password))


def _verify(
    session: Session, account: StoredValueAccount, given: Verification, early: _Checked | None
) -> None:
    """On the locked account: refuse while locked, count a wrong answer, take a member code
    once; a right answer clears the failures."""
    _refuse_while_locked(account)
    if given.member_code:
        _take_code(session, account, given.member_code)
    elif not _password_right(account, given.password or "", early):
        _count_failure(session, account)
    if account.failed_verifications or account.locked_until is not None:
        account.failed_verifications = 0
        account.locked_until = None


def _refuse_while_locked(account: StoredValueAccount) -> None:
    until = locked_until(account)
    if until is not None:
        raise StoredValueLocked(
            f"stored-value payments locked until {until.isoformat()}",
            locked_until=until.isoformat(),
        )


def _take_code(session: Session, account: StoredValueAccount, code: str) -> None:
    try:
        member, step = codes.resolve_code_step(session, code)
    except MemberCodeInvalid:
        _count_failure(session, account)
    if member.id != account.member_id:
        _count_failure(session, account)
    if account.last_code_step is not None and step <= account.last_code_step:
        raise MemberCodeUsed("this code was taken already; ask for the one the app shows now")
    account.last_code_step = step


def _password_right(account: StoredValueAccount, password: str, early: _Checked | None) -> bool:
    if early is not None and early.password_hash == account.password_hash:
        return early.right  # the hash did not change while we waited for the lock
    if account.password_hash is None:
        verify_password(DUMMY_PASSWORD_HASH, password)  # the same time either way
        return False
    return verify_password(account.password_hash, password)


def _count_failure(session: Session, account: StoredValueAccount) -> NoReturn:
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


def set_password(
    session: Session,
    actor: Actor,
    member_id: int,
    password: str,
    proof: Verification | None = None,
) -> None:
    """Set or replace the member's payment password at their home store or HQ, the member
    typing it. Replacing one needs the member's proof (the old password or their code), counted
    like a payment's; a locked account is reset by an hq_admin only, without proof. Clears a
    lock-out. Audited without the password.
    403 not_home_store; 422 verification_required; then as `authorize`."""
    SET_PASSWORD.check(actor)
    member = session.get(Member, member_id)
    store_id = member.store_id if member else None
    if not actor.sees_store(store_id):
        raise NotHomeStore("the member's home store or HQ sets the payment password")
    check_password(password)
    new_hash = hash_password(password)
    given = proof if proof and (proof.member_code or proof.password) else None
    early = _check_before_lock(session, member_id, given) if given else None
    account = ledger.lock_accounts(session, [member_id], active=True)[member_id]
    was_locked = locked_until(account) is not None
    replaced = account.password_hash is not None
    reset = was_locked and replaced and given is None and actor.role is Role.hq_admin
    if given is not None:
        _verify(session, account, given, early)
    elif replaced and not reset:
        raise VerificationRequired("replacing the password needs the old one or the member code")
    account.password_hash = new_hash
    account.failed_verifications = 0
    account.locked_until = None
    session.flush()
    audit.record(
        session,
        actor,
        "stored_value.password_reset" if reset else "stored_value.password_set",
        "member",
        member_id,
        store_id=store_id,
        after={"replaced": replaced, "lock_cleared": was_locked},
    )


@privacy.on_erase.register("stored_value.password")
def _erase_password(session: Session, member: Member) -> None:
    session.execute(
        update(StoredValueAccount)
        .where(StoredValueAccount.member_id == member.id)
        .values(password_hash=None, failed_verifications=0, locked_until=None)
    )


# --- order refunds ----------------------------------------------------------------------------


@ORDER_REFUNDED.subscribers.register("stored_value.reverse")
def _put_back(session: Session, event: events.Event[OrderRefunded]) -> None:
    """After refunds of R of the order's T fen, floor(R × S / T) of the S fen it took from stored
    value are back: partial refunds add up, and a full refund puts back all of it. An order
    whose lines carry the stored value that paid them gets back the refunded lines' share
    (`stored_value_back`), by the same cumulative rule line by line."""
    refund = event.payload
    spent = ledger.spent_by(session, refund.order_id)
    if spent is None:
        return
    _, taken, _ = spent
    if refund.stored_value_back is not None:
        due = refund.stored_value_back
    else:
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
