"""The member code (会员码): a TOTP behind the member id, good for two minutes."""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from datetime import datetime, timedelta

import pyotp
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor
from patron.core.ids import parse_row_id
from patron.members.errors import MemberCodeInvalid
from patron.members.models import (
    Member,
    MemberStatus,
)
from patron.members.registry import get_active_member
from patron.members.schemas import (
    MemberCodeOut,
)

CODE_STEP_SECONDS = 60
CODE_DIGITS = 8
CODE_ID_DIGITS = 10
ASCII_DIGITS = re.compile(r"[0-9]+")
SECRET_BYTES = 20
SECRET_CHARS = SECRET_BYTES * 8 // 5


def new_code_secret() -> str:
    """160 random bits in base32, the TOTP secret behind a member's code (RFC 4226 length)."""
    return new_code_secrets(1)[0]


def new_code_secrets(count: int) -> list[str]:
    """`count` secrets as `new_code_secret` makes them, from one draw of random bytes (an
    import's batch): 20 bytes are exactly 32 base32 characters, so each is a slice."""
    encoded = base64.b32encode(secrets.token_bytes(SECRET_BYTES * count)).decode()
    return [encoded[at : at + SECRET_CHARS] for at in range(0, len(encoded), SECRET_CHARS)]


def _totp(member: Member) -> pyotp.TOTP:
    assert member.code_secret is not None
    return pyotp.TOTP(member.code_secret, digits=CODE_DIGITS, interval=CODE_STEP_SECONDS)


def issue_code(session: Session, actor: Actor, member_id: int) -> MemberCodeOut:
    """A code for the current step; it works for this step and the next, then never again."""
    member = get_active_member(session, actor, member_id)
    now = clock.now()
    step_start = int(now.timestamp()) // CODE_STEP_SECONDS * CODE_STEP_SECONDS
    expires_at = datetime.fromtimestamp(step_start + 2 * CODE_STEP_SECONDS, tz=now.tzinfo)
    return MemberCodeOut(
        code=f"{member.id:0{CODE_ID_DIGITS}d}{_totp(member).at(now)}", expires_at=expires_at
    )


def resolve_code(session: Session, code: str) -> Member:
    return resolve_code_step(session, code)[0]


def resolve_code_step(session: Session, code: str) -> tuple[Member, int]:
    """The member behind a valid code and the TOTP step (unix time // 60) the code belongs to,
    so a payment can take each code once."""
    # ASCII digits only: str.isdigit() also takes '١٢٣' and '²', which int() then refuses.
    if len(code) != CODE_ID_DIGITS + CODE_DIGITS or not ASCII_DIGITS.fullmatch(code):
        raise MemberCodeInvalid()
    member_id = parse_row_id(code[:CODE_ID_DIGITS])  # ten digits reach past the id column
    if member_id is None:
        raise MemberCodeInvalid()
    member = session.get(Member, member_id)
    if member is None or member.status != MemberStatus.active or member.code_secret is None:
        raise MemberCodeInvalid()
    now, totp, given = clock.now(), _totp(member), code[CODE_ID_DIGITS:]
    for moment in (now, now - timedelta(seconds=CODE_STEP_SECONDS)):
        if hmac.compare_digest(totp.at(moment), given):
            return member, int(moment.timestamp()) // CODE_STEP_SECONDS
    raise MemberCodeInvalid()
