from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.deps import ActorDep, OneHopRouter, SessionDep, require
from patron.stores import permissions, regions, service
from patron.stores.models import StoreStatus, StoreType
from patron.stores.regions import RegionCodeExists
from patron.stores.schemas import (
    RegionCreate,
    RegionOut,
    RegionStores,
    RegionUpdate,
    StoreCreate,
    StoreOut,
    StoreUpdate,
)
from patron.stores.service import RegionNotFound, StoreCodeExists, StoreNotFound

router = OneHopRouter(prefix="/stores", tags=["stores"])
regions_router = OneHopRouter(prefix="/regions", tags=["regions"])
RegionReader = Annotated[Actor, Depends(require(permissions.VIEW_REGIONS))]
RegionManager = Annotated[Actor, Depends(require(permissions.MANAGE_REGIONS))]


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


@regions_router.get("", response_model=list[RegionOut])
def list_regions(session: SessionDep, actor: RegionReader) -> list[RegionOut]:
    """Every region for HQ, a regional manager's own; by code (a chain has a handful)."""
    return [RegionOut.model_validate(r) for r in regions.list_regions(session, actor)]


@regions_router.post(
    "", response_model=RegionOut, status_code=201, responses=errors(RegionCodeExists)
)
def create_region(data: RegionCreate, session: SessionDep, actor: RegionManager) -> RegionOut:
    return RegionOut.model_validate(regions.create_region(session, actor, data))


@regions_router.get("/{region_id}", response_model=RegionOut, responses=errors(RegionNotFound))
def get_region(region_id: int, session: SessionDep, actor: RegionReader) -> RegionOut:
    return RegionOut.model_validate(regions.get_region(session, actor, region_id))


@regions_router.patch(
    "/{region_id}", response_model=RegionOut, responses=errors(RegionNotFound, RegionCodeExists)
)
def update_region(
    region_id: int, data: RegionUpdate, session: SessionDep, actor: RegionManager
) -> RegionOut:
    return RegionOut.model_validate(regions.update_region(session, actor, region_id, data))


@regions_router.put(
    "/{region_id}/stores", response_model=RegionOut, responses=errors(RegionNotFound)
)
def set_region_stores(
    region_id: int, data: RegionStores, session: SessionDep, actor: RegionManager
) -> RegionOut:
    """All of the region's stores; a store in another region moves to this one."""
    return RegionOut.model_validate(regions.set_stores(session, actor, region_id, data.store_ids))
