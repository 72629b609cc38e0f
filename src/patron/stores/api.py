from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import ActorDep, OneHopRouter, SessionDep, require
from patron.stores import permissions, service
from patron.stores.models import StoreStatus, StoreType
from patron.stores.schemas import StoreCreate, StoreOut, StoreUpdate
from patron.stores.service import StoreCodeExists, StoreNotFound

router = OneHopRouter(prefix="/stores", tags=["stores"])


@router.get("", response_model=Page[StoreOut])
def list_stores(
    session: SessionDep,
    actor: ActorDep,
    status: StoreStatus | None = None,
    type: StoreType | None = None,
    city: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[StoreOut]:
    filters = service.StoreFilter(status=status, type=type, city=city, q=q)
    page = service.list_stores(session, actor, filters, cursor, limit)
    return Page(
        items=[StoreOut.model_validate(s) for s in page.items], next_cursor=page.next_cursor
    )


@router.post("", response_model=StoreOut, status_code=201, responses=errors(StoreCodeExists))
def create_store(
    data: StoreCreate,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.CREATE))],
) -> StoreOut:
    return StoreOut.model_validate(service.create_store(session, actor, data))


@router.get("/{store_id}", response_model=StoreOut, responses=errors(StoreNotFound))
def get_store(store_id: int, session: SessionDep, actor: ActorDep) -> StoreOut:
    return StoreOut.model_validate(service.get_store(session, actor, store_id))


@router.patch("/{store_id}", response_model=StoreOut, responses=errors(StoreNotFound))
def update_store(
    store_id: int,
    data: StoreUpdate,
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.EDIT))],
) -> StoreOut:
    return StoreOut.model_validate(service.update_store(session, actor, store_id, data))
