"""Members sign in with their mobile and a one-time code sent by SMS (transactional, through the
message service). The rules, for members and strangers alike, so that no answer tells whether a
mobile is a member's until its code is proved:

- a code is 6 random digits, kept only as a keyed hash (HMAC with a key derived from the secret),
  good for CODE_TTL; asking again replaces it (not before the resend interval);
- MAX_FAILURES wrong codes in a row lock the mobile for LOCK, whatever the code then;
- a right code signs a member in (one use) and records the sign-in with the device's and the
  client's hashes; a right code for a mobile nobody holds answers `registration_required`, and
  the same code then registers it (`register_member_from_page`).

Sends are also limited per mobile and per client address by the API and the page (rate limits).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor, Role, member_actor
from patron.core.crypto import blind_index
from patron.core.db import insert_or_skip
from patron.core.errors import PatronError
from patron.core.security import AccessToken, issue_member_token
from patron.core.settings import Settings
from patron.member_auth.errors import (
    CodeInvalid,
    CodeSendTooSoon,
    MemberInactive,
    RegistrationRequired,
    SignInLocked,
)
from patron.member_auth.models import SignIn, SignInState
from patron.members import consents, registration
from patron.members.models import Channel as MemberChannel
from patron.members.models import ConsentChannel, MemberStatus
from patron.members.registry import find_by_mobile
from patron.members.schemas import MemberCreate
from patron.messages import service as messages
from patron.messages import templates
from patron.messages.kinds import Channel, Purpose
from patron.referrals import service as referrals

logger = logging.getLogger("patron.member_auth")
STATES = cast(Table, SignInState.__table__)
CODE_TTL = timedelta(minutes=5)
MAX_FAILURES = 5
LOCK = timedelta(minutes=15)
CODE_DIGITS = 6
CONSENT_SOURCE = "member_page"
# Who registers a member from the member page: the member-to-be, before they have an id.
SELF_REGISTRATION = Actor(
    kind="member", id=None, name="member:self-registration", role=Role.member, store_ids=None
)


@dataclass(frozen=True)
class Policy:
    secret_key: str
    token_ttl: timedelta
    resend: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            settings.secret_key,
            timedelta(days=settings.member_token_ttl_days),
            timedelta(seconds=settings.member_code_resend_seconds),
        )


@dataclass(frozen=True)
class Client:
    """Where a sign-in comes from: the device id (header or cookie) and the client address."""

    device_id: str = ""
    address: str = ""

    @property
    def device_hash(self) -> str:
        return blind_index("member_device", self.device_id) if self.device_id else ""

    @property
    def address_hash(self) -> str:
        return blind_index("member_client", self.address) if self.address else ""


@dataclass(frozen=True)
class SignedIn:
    member_id: int
    token: AccessToken
    registered: bool = False


def mobile_key(mobile: str) -> str:
    """The keyed hash a mobile's sign-in state is kept under (never the mobile itself)."""
    return blind_index("member_sign_in", mobile)


def _code_hash(key: str, code: str) -> str:
    return blind_index("member_sign_in_code", f"{key}:{code}")


def _state(session: Session, key: str) -> SignInState:
    """The mobile's state, locked (created when missing, concurrent first sends taking turns)."""
    session.execute(
        insert_or_skip(session, STATES)
        .values(mobile_hash=key, code_hash="", failures=0)
        .on_conflict_do_nothing(index_elements=["mobile_hash"])
    )
    state = session.scalars(
        select(SignInState)
        .where(SignInState.mobile_hash == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return state


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds() + 0.999)


def send_code(session: Session, mobile: str, policy: Policy) -> timedelta:
    """Send a new code to the mobile (member or not), replacing any earlier one; how long it
    lasts. A send within the resend interval of the last is refused (CodeSendTooSoon). While the
    mobile is locked, nothing is sent and the answer is the same."""
    now = clock.now()
    key = mobile_key(mobile)
    state = _state(session, key)
    if state.code_sent_at is not None and now < state.code_sent_at + policy.resend:
        wait = state.code_sent_at + policy.resend - now
        raise CodeSendTooSoon(
            f"a code was sent lately; ask again in {_seconds(wait)} s", _seconds(wait)
        )
    state.code_sent_at = now
    if state.locked_until is not None and now < state.locked_until:
        session.flush()
        return CODE_TTL
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    state.code_hash = _code_hash(key, code)
    state.code_expires_at = now + CODE_TTL
    session.flush()
    _ensure_template(session)
    messages.send(
        session,
        channel=Channel.sms,
        template_code=templates.MEMBER_SIGN_IN_CODE,
        variables={"code": code, "minutes": _seconds(CODE_TTL) // 60},
        recipient=mobile,
        purpose=Purpose.transactional,
        source="member_auth",
    )
    return CODE_TTL


def _ensure_template(session: Session) -> None:
    try:
        messages.get_template(session, templates.MEMBER_SIGN_IN_CODE, Channel.sms)
    except messages.MessageTemplateNotFound:
        templates.ensure_defaults(session)


def _prove(session: Session, mobile: str, code: str, now: datetime) -> SignInState:
    """The mobile's state once `code` is proved right; a wrong or expired code counts a failure
    (the MAX_FAILURES-th locks the mobile, its code gone) and a locked mobile is refused."""
    key = mobile_key(mobile)
    state = _state(session, key)
    if state.locked_until is not None and now < state.locked_until:
        wait = _seconds(state.locked_until - now)
        raise SignInLocked(f"locked; try again in {wait} s", wait)
    good = (
        bool(state.code_hash)
        and state.code_expires_at is not None
        and now < state.code_expires_at
        and hmac.compare_digest(state.code_hash, _code_hash(key, code))
    )
    if good:
        return state
    state.failures += 1
    if state.failures >= MAX_FAILURES:
        state.failures = 0
        state.locked_until = now + LOCK
        state.code_hash, state.code_expires_at = "", None
        session.flush()
        raise SignInLocked("too many wrong codes; locked", _seconds(LOCK))
    session.flush()
    raise CodeInvalid("the code is wrong or has expired")


def _spend(state: SignInState) -> None:
    state.code_hash, state.code_expires_at, state.failures = "", None, 0


def sign_in(session: Session, mobile: str, code: str, policy: Policy, client: Client) -> SignedIn:
    """A member token for the member holding the mobile, once the code is proved."""
    now = clock.now()
    state = _prove(session, mobile, code, now)
    member = find_by_mobile(session, mobile)
    if member is None or member.status == MemberStatus.erased:
        state.failures = 0
        session.flush()
        raise RegistrationRequired("no member holds this mobile; register to join")
    _spend(state)
    if member.status != MemberStatus.active:
        session.flush()
        raise MemberInactive("this membership is not active")
    return _signed_in(session, member.id, policy, client, now)


def _signed_in(
    session: Session,
    member_id: int,
    policy: Policy,
    client: Client,
    now: datetime,
    registered: bool = False,
) -> SignedIn:
    session.add(
        SignIn(
            member_id=member_id,
            device_hash=client.device_hash,
            client_hash=client.address_hash,
            signed_in_at=now,
        )
    )
    session.flush()
    token = issue_member_token(policy.secret_key, member_id, policy.token_ttl)
    return SignedIn(member_id, token, registered)


@dataclass(frozen=True)
class Registration:
    mobile: str
    code: str
    name: str | None
    consents: dict[ConsentChannel, bool]
    invite_code: str | None = None


def register_member_from_page(
    session: Session, data: Registration, policy: Policy, client: Client
) -> SignedIn:
    """Register the mobile's holder, once the code is proved: channel `online`, each channel's
    marketing consent recorded as asked (source `member_page`, nothing granted unless ticked),
    the invite code handed to the referrals . A mobile that is a
    member's already just signs in (`registered` False)."""
    now = clock.now()
    state = _prove(session, data.mobile, data.code, now)
    existing = find_by_mobile(session, data.mobile)
    if existing is not None and existing.status != MemberStatus.erased:
        _spend(state)
        if existing.status != MemberStatus.active:
            session.flush()
            raise MemberInactive("this membership is not active")
        return _signed_in(session, existing.id, policy, client, now)
    _spend(state)
    name = (data.name or "").strip() or f"会员{data.mobile[-4:]}"
    member = registration.register_member(
        session,
        SELF_REGISTRATION,
        MemberCreate(mobile=data.mobile, name=name, channel=MemberChannel.online),
    )
    actor = member_actor(member.id)
    for channel in ConsentChannel:
        consents.set_consent(
            session, actor, member.id, channel, data.consents.get(channel, False), CONSENT_SOURCE
        )
    if data.invite_code:
        record_invite(session, member.id, data.invite_code, client.device_hash)
    return _signed_in(session, member.id, policy, client, now, registered=True)


def record_invite(session: Session, invitee_id: int, code: str, device_hash: str) -> None:
    """Hand a registration's invite code to the referrals. A refused invite (an unknown code,
    the member's own) never stops the member joining: it is logged and undone alone."""
    savepoint = session.begin_nested()
    try:
        referrals.record_invite(session, invitee_id, code, device_hash)
    except PatronError as error:
        savepoint.rollback()
        logger.info("invite code refused: %s", error.code, extra={"member_id": invitee_id})
        return
    savepoint.commit()


def sign_ins(session: Session, member_id: int, limit: int = 20) -> list[SignIn]:
    return list(
        session.scalars(
            select(SignIn)
            .where(SignIn.member_id == member_id)
            .order_by(SignIn.id.desc())
            .limit(limit)
        )
    )
