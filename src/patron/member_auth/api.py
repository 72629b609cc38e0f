"""Member sign-in for the member API (mini-programs, apps): ask for a code, trade it for a member
token, or register a new mobile with it. Public routes: no staff or member token."""

from __future__ import annotations

from fastapi import Request

from patron.core.openapi import errors
from patron.deps import OneHopRouter, SessionDep, SettingsDep
from patron.member_auth import service
from patron.member_auth.errors import (
    CodeInvalid,
    CodeSendTooSoon,
    MemberInactive,
    RegistrationRequired,
    SignInLocked,
)
from patron.member_auth.limits import code_limits
from patron.member_auth.schemas import (
    CodeRequest,
    CodeSent,
    MemberTokenOut,
    RegisterRequest,
    TokenRequest,
)
from patron.members.models import ConsentChannel

router = OneHopRouter(prefix="/member-auth", tags=["member auth"])
DEVICE_HEADER = "x-device-id"


def client_of(request: Request) -> service.Client:
    device = request.headers.get(DEVICE_HEADER, "")[:128]
    return service.Client(device, request.client.host if request.client else "")


@router.post(
    "/code",
    response_model=CodeSent,
    status_code=202,
    responses=errors(CodeSendTooSoon),
)
def ask_for_code(
    data: CodeRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> CodeSent:
    """Send a 6-digit sign-in code by SMS. The answer is the same whether or not the mobile is
    a member's (and so is a refusal: 429 `code_send_limited` with Retry-After)."""
    policy = service.Policy.from_settings(settings)
    code_limits(request.app.state, settings).check(
        service.mobile_key(data.mobile), client_of(request).address
    )
    ttl = service.send_code(session, data.mobile, policy)
    return CodeSent(
        expires_in=int(ttl.total_seconds()), resend_after=int(policy.resend.total_seconds())
    )


@router.post(
    "/token",
    response_model=MemberTokenOut,
    responses=errors(CodeInvalid, SignInLocked, RegistrationRequired, MemberInactive),
)
def issue_token(
    data: TokenRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> MemberTokenOut:
    """Trade the code for a member token. A wrong or expired code is 401 `code_invalid`; five in a
    row lock the mobile for 15 minutes (429 `sign_in_locked`); a right code for a mobile no member
    holds is 404 `registration_required` (register with the same code)."""
    signed = service.sign_in(
        session,
        data.mobile,
        data.code,
        service.Policy.from_settings(settings),
        client_of(request),
    )
    return _token_out(signed)


@router.post(
    "/register",
    response_model=MemberTokenOut,
    status_code=201,
    responses=errors(CodeInvalid, SignInLocked, MemberInactive),
)
def register(
    data: RegisterRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> MemberTokenOut:
    """Register the mobile (channel `online`) with the code sent to it, and sign in. Marketing
    consent is recorded per channel as given (source `member_page`; absent means no). A mobile
    that is a member's already just signs in."""
    chosen = data.marketing_consent
    signed = service.register_member_from_page(
        session,
        service.Registration(
            mobile=data.mobile,
            code=data.code,
            name=data.name,
            consents={
                ConsentChannel.sms: chosen.sms,
                ConsentChannel.email: chosen.email,
                ConsentChannel.wechat: chosen.wechat,
            },
            invite_code=data.invite_code,
        ),
        service.Policy.from_settings(settings),
        client_of(request),
    )
    return _token_out(signed)


def _token_out(signed: service.SignedIn) -> MemberTokenOut:
    return MemberTokenOut(
        access_token=signed.token.token,
        expires_at=signed.token.expires_at,
        member_id=signed.member_id,
    )
