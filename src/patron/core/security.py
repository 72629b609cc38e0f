"""Password hashing (argon2), signed access tokens (JWT) and API-key secrets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from patron.core import clock

_hasher = PasswordHasher()
API_KEY_PREFIX = "pk_"
_TOKEN_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# A hash to verify against when the username is unknown, so both paths cost the same time.
DUMMY_PASSWORD_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenClaims:
    staff_id: int
    version: int
    token_id: str
    expires_at: datetime


def issue_access_token(secret: str, staff_id: int, version: int, ttl: timedelta) -> AccessToken:
    issued = clock.now()
    expires = issued + ttl
    payload = {
        "sub": str(staff_id),
        "ver": version,
        "jti": secrets.token_urlsafe(16),
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return AccessToken(jwt.encode(payload, secret, algorithm=_TOKEN_ALGORITHM), expires)


def read_access_token(secret: str, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token, else None. Expiry follows Patron's clock."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[_TOKEN_ALGORITHM],
            options={"verify_exp": False, "require": ["sub", "exp", "ver", "jti"]},
        )
        if payload["exp"] <= clock.now().timestamp():
            return None
        return TokenClaims(
            int(payload["sub"]),
            int(payload["ver"]),
            str(payload["jti"]),
            datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


# Member tokens are signed with a key of their own, so a member token never reads as a staff
# token (nor the reverse), whatever its claims.
_MEMBER_TOKEN_LABEL = b"patron member token"


def _member_key(secret: str) -> str:
    return hmac.new(secret.encode(), _MEMBER_TOKEN_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class MemberClaims:
    member_id: int
    token_id: str
    expires_at: datetime


def issue_member_token(secret: str, member_id: int, ttl: timedelta) -> AccessToken:
    issued = clock.now()
    expires = issued + ttl
    payload = {
        "sub": str(member_id),
        "typ": "member",
        "jti": secrets.token_urlsafe(16),
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return AccessToken(
        jwt.encode(payload, _member_key(secret), algorithm=_TOKEN_ALGORITHM), expires
    )


def read_member_token(secret: str, token: str) -> MemberClaims | None:
    """The claims of a valid, unexpired member token, else None (expiry by Patron's clock)."""
    try:
        payload = jwt.decode(
            token,
            _member_key(secret),
            algorithms=[_TOKEN_ALGORITHM],
            options={"verify_exp": False, "require": ["sub", "exp", "typ", "jti"]},
        )
        if payload["typ"] != "member" or payload["exp"] <= clock.now().timestamp():
            return None
        return MemberClaims(
            int(payload["sub"]),
            str(payload["jti"]),
            datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # API keys are 256-bit random values, so one SHA-256 pass suffices (as GitHub and Stripe do);
    # a slow hash would only cost every integration request time.
    return hashlib.sha256(key.encode()).hexdigest()


def form_token(secret: str, session_token: str) -> str:
    """The CSRF token the console embeds in forms, bound to the login session."""
    return hmac.new(secret.encode(), f"csrf:{session_token}".encode(), hashlib.sha256).hexdigest()
