from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from patron.apikeys import permissions, service
from patron.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import OneHopRouter, SessionDep, require

router = OneHopRouter(prefix="/api-keys", tags=["api keys"])
Admin = Annotated[Actor, Depends(require(permissions.MANAGE))]


@router.get("", response_model=Page[ApiKeyOut])
def list_keys(
    session: SessionDep,
    actor: Admin,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ApiKeyOut]:
    page = service.list_keys(session, cursor, limit)
    return Page(
        items=[ApiKeyOut.model_validate(k) for k in page.items], next_cursor=page.next_cursor
    )


@router.post("", response_model=ApiKeyCreated, status_code=201)
def create_key(data: ApiKeyCreate, session: SessionDep, actor: Admin) -> ApiKeyCreated:
    created = service.create_key(session, actor, data)
    out = ApiKeyOut.model_validate(created.api_key)
    return ApiKeyCreated(**out.model_dump(), key=created.key)


@router.delete("/{key_id}", response_model=ApiKeyOut, responses=errors(service.ApiKeyNotFound))
def revoke_key(key_id: int, session: SessionDep, actor: Admin) -> ApiKeyOut:
    return ApiKeyOut.model_validate(service.revoke_key(session, actor, key_id))
