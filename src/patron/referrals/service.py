"""Referral (推荐有礼): the program's settings, each member's invite code and link, and recording
who invited a new member. Rewards and their reversal are the job's (`rewards`).

A member's code is drawn on first ask: six characters from an alphabet without look-alikes
(no 0/O, 1/I/L), unique. An invitation is recorded once per invitee (the table keeps one row per
invitee): an unknown code is refused (422 `unknown_invite_code`), so is the invitee's own code
(`own_invite_code`); an invitee signing up on a device the referrer has signed in from is
recorded `rejected` (`same_device`), so the attempt shows in the report."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import SYSTEM, Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.coupons.errors import TemplateNotFound
from patron.coupons.templates import get_template
from patron.member_auth import queries as sign_ins
from patron.members import registry
from patron.members.errors import MemberNotActive
from patron.members.models import MemberStatus
from patron.referrals import permissions
from patron.referrals.errors import (
    AlreadyReferred,
    OwnInviteCode,
    ReferralProgramOff,
    ReferralWindowOver,
    UnknownInviteCode,
)
from patron.referrals.models import Referral, ReferralCode, ReferralProgram, ReferralStatus

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
CODE_ATTEMPTS = 5
# Staff may record a member's referrer up to this many days after the member registered.
STAFF_WINDOW_DAYS = 7
INVITE_PATH = "/m/login?invite="
PROGRAM_FIELDS = (
    "enabled",
    "referrer_points",
    "referrer_coupon_template_id",
    "invitee_points",
    "invitee_coupon_template_id",
    "monthly_cap",
    "reversal_days",
)


class Rejection:
    """Why a referral was rejected (the `reason` column)."""

    same_device = "same_device"
    same_payment = "same_payment"
    monthly_cap = "monthly_cap"
    order_refunded = "order_refunded"
    referrer_inactive = "referrer_inactive"
    invitee_inactive = "invitee_inactive"
    merged_into_referrer = "merged_into_referrer"
    merged_duplicate = "merged_duplicate"


REJECTIONS = tuple(v for k, v in vars(Rejection).items() if not k.startswith("_"))


def get_program(session: Session) -> ReferralProgram:
    program = session.get(ReferralProgram, 1)
    if program is None:
        program = ReferralProgram(id=1)
        session.add(program)
        session.flush()
    return program


def read_program(session: Session) -> ReferralProgram:
    """The program as it stands, without writing: before anyone saved it, its defaults (a row
    not added to the session)."""
    program = session.get(ReferralProgram, 1)
    if program is not None:
        return program
    defaults = {
        column.key: column.default.arg
        for column in ReferralProgram.__table__.columns
        if column.default is not None and not callable(column.default.arg)
    }
    return ReferralProgram(id=1, updated_at=clock.now(), **defaults)


def update_program(session: Session, actor: Actor, changes: dict[str, Any]) -> ReferralProgram:
    """Set the fields given; a coupon template named must exist (checked by its key)."""
    permissions.EDIT_PROGRAM.check(actor)
    program = get_program(session)
    before = {name: getattr(program, name) for name in PROGRAM_FIELDS}
    for name, value in changes.items():
        if name.endswith("_coupon_template_id") and value is not None:
            try:
                get_template(session, value)
            except TemplateNotFound as error:
                raise InvalidInput(
                    name, f"no coupon template {value}", code=Reason.unknown_template
                ) from error
        if name in PROGRAM_FIELDS:
            setattr(program, name, value)
    session.flush()
    after = {name: getattr(program, name) for name in PROGRAM_FIELDS}
    audit.record(
        session, actor, "referrals.program", "referral_program", 1, before=before, after=after
    )
    return program


# Codes


def normalize(code: str) -> str:
    return code.strip().upper()


def code_of(session: Session, member_id: int) -> str:
    """The member's invite code, drawn the first time it is asked for (with an audit entry)."""
    found = session.get(ReferralCode, member_id)
    if found is not None:
        return found.code
    for _ in range(CODE_ATTEMPTS):
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with session.begin_nested():
                session.add(ReferralCode(member_id=member_id, code=code, created_at=clock.now()))
        except IntegrityError:
            # A code already drawn, or the member's code drawn meanwhile by another request.
            found = session.get(ReferralCode, member_id, populate_existing=True)
            if found is not None:
                return found.code
            continue
        audit.record(session, SYSTEM, "referrals.code", "member", member_id, after={"code": code})
        return code
    raise RuntimeError("no free invite code after several draws")


def holder_of(session: Session, code: str) -> int | None:
    """The member an invite code leads to now (a merged holder's survivor); None if unknown or
    the holder is no longer an active member."""
    member_id = session.scalar(
        select(ReferralCode.member_id).where(ReferralCode.code == normalize(code))
    )
    if member_id is None:
        return None
    member = registry.follow_merges(
        session, registry.members_by_id(session, [member_id]).get(member_id)
    )
    return member.id if member is not None and member.status == MemberStatus.active else None


def invite_link(code: str, base_url: str = "") -> str:
    """The link a member shares: absolute under the public URL when one is set."""
    return f"{base_url.rstrip('/')}{INVITE_PATH}{code}"


# Recording an invitation


def record_invite(
    session: Session, invitee_id: int, code: str, device_hash: str = ""
) -> Referral | None:
    """Record that the holder of `code` invited the new member `invitee_id` (called by the member
    sign-up, and by staff through `record_by_staff`). None when the program is off. Refused:
    an unknown code (422 unknown_invite_code), the invitee's own code (422 own_invite_code),
    an invitee already referred (409 already_referred). Recorded `rejected` (`same_device`)
    when the invitee's device is one the referrer signed in from."""
    program = get_program(session)
    if not program.enabled:
        return None
    referrer_id = holder_of(session, code)
    if referrer_id is None:
        raise UnknownInviteCode(code)
    if referrer_id == invitee_id:
        raise OwnInviteCode()
    existing = session.scalar(select(Referral).where(Referral.invitee_id == invitee_id))
    if existing is not None:
        raise AlreadyReferred(f"member {invitee_id} was referred by member {existing.referrer_id}")
    referral = Referral(
        referrer_id=referrer_id,
        invitee_id=invitee_id,
        code=normalize(code),
        device_hash=device_hash,
        status=ReferralStatus.pending.value,
        registered_at=clock.now(),
    )
    if device_hash and device_hash in _devices_of(session, referrer_id):
        referral.status = ReferralStatus.rejected.value
        referral.reason = Rejection.same_device
    try:
        with session.begin_nested():
            session.add(referral)
    except IntegrityError as error:  # the same invitee recorded meanwhile
        raise AlreadyReferred(f"member {invitee_id} was referred meanwhile") from error
    audit.record(
        session,
        SYSTEM,
        "referrals.invite",
        "member",
        invitee_id,
        after={"referrer_id": referrer_id, "status": referral.status, "reason": referral.reason},
    )
    return referral


def record_by_staff(session: Session, actor: Actor, member_id: int, code: str) -> Referral:
    """Staff record the friend who brought a member in, within STAFF_WINDOW_DAYS of the member's
    registration (409 referral_window_over after). 409 referral_program_off when off."""
    permissions.RECORD.check(actor)
    member = registry.get_member(session, actor, member_id)
    if member.status != MemberStatus.active:
        raise MemberNotActive(f"member {member_id} is {member.status}")
    if clock.now() - member.registered_at > timedelta(days=STAFF_WINDOW_DAYS):
        raise ReferralWindowOver(
            f"member {member_id} registered more than {STAFF_WINDOW_DAYS} days ago"
        )
    referral = record_invite(session, member_id, code)
    if referral is None:
        raise ReferralProgramOff()
    audit.record(
        session, actor, "referrals.record", "member", member_id, after={"referral_id": referral.id}
    )
    return referral


def _devices_of(session: Session, member_id: int) -> set[str]:
    return sign_ins.device_hashes_of(session, member_id)
