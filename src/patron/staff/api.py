from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from patron.core.actor import Actor, Role
from patron.core.errors import Forbidden, RateLimited
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import ActorDep, OneHopRouter, SessionDep, SettingsDep, bearer_token, require
from patron.staff import permissions, service
from patron.staff.schemas import LoginRequest, MeOut, StaffCreate, StaffOut, StaffUpdate, TokenOut

auth_router = OneHopRouter(prefix="/auth", tags=["auth"])
router = OneHopRouter(prefix="/staff", tags=["staff"])
StaffManager = Annotated[Actor, Depends(require(permissions.MANAGE))]


def check_login_rate(request: Request) -> None:
    client = request.client.host if request.client else "unknown"
    if not request.app.state.login_limiter.hit("login", client):
        raise RateLimited("too many login attempts from this address; wait a minute")


@auth_router.post(
    "/token",
    response_model=TokenOut,
    responses=errors(service.InvalidCredentials, service.AccountLocked, RateLimited),
)
def issue_token(
    data: LoginRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> TokenOut:
    check_login_rate(request)
    user = service.authenticate(
        session, data.username, data.password, service.LoginPolicy.from_settings(settings)
    )
    token = service.issue_token(user, settings)
    return TokenOut(access_token=token.token, expires_at=token.expires_at)


@auth_router.post("/logout", status_code=204, responses=errors(Forbidden))
def sign_out(request: Request, session: SessionDep, settings: SettingsDep, actor: ActorDep) -> None:
    """End this staff token's session; an API key is revoked with DELETE /api-keys/{id}."""
    token = bearer_token(request)
    if actor.kind != "staff" or token is None:
        raise Forbidden("only a staff token signs out; an API key is revoked instead")
    service.sign_out(session, settings, token)


@auth_router.get("/me", response_model=MeOut)
def me(actor: ActorDep) -> MeOut:
    return MeOut(
        kind=actor.kind,
        id=actor.id,
        name=actor.name,
        role=actor.role,
        all_stores=actor.all_stores,
        store_ids=None if actor.store_ids is None else sorted(actor.store_ids),
        region_ids=None if actor.region_ids is None else sorted(actor.region_ids),
    )


@router.get("", response_model=Page[StaffOut])
def list_staff(
    session: SessionDep,
    actor: StaffManager,
    role: Role | None = None,
    store_id: int | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[StaffOut]:
    page = service.list_staff(session, actor, cursor, limit, role=role, store_id=store_id)
    return Page(
        items=[StaffOut.model_validate(u) for u in page.items], next_cursor=page.next_cursor
    )


@router.post("", response_model=StaffOut, status_code=201, responses=errors(service.UsernameTaken))
def create_staff(data: StaffCreate, session: SessionDep, actor: StaffManager) -> StaffOut:
    return StaffOut.model_validate(service.create_staff(session, actor, data))


@router.get("/{staff_id}", response_model=StaffOut, responses=errors(service.StaffNotFound))
def get_staff(staff_id: int, session: SessionDep, actor: ActorDep) -> StaffOut:
    return StaffOut.model_validate(service.get_staff(session, actor, staff_id))


@router.patch("/{staff_id}", response_model=StaffOut, responses=errors(service.StaffNotFound))
def update_staff(
    staff_id: int, data: StaffUpdate, session: SessionDep, actor: StaffManager
) -> StaffOut:
    return StaffOut.model_validate(service.update_staff(session, actor, staff_id, data))
