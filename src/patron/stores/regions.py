"""Regions (区域): groups of stores that HQ reports on together and regional managers oversee.
A store is in at most one region; putting it in another moves it there (and is audited).

Regions are not deleted: one that is no longer wanted is emptied of its stores (its regional
managers then see no store) or renamed, so the staff scoped to it and the reports filtered by it
keep naming a region that exists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Select, Table, delete, or_, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.db import insert_or_skip, unique_or
from patron.core.errors import Conflict, InvalidInput
from patron.core.reasons import Reason
from patron.stores import permissions
from patron.stores.models import Region, RegionStore
from patron.stores.schemas import RegionCreate, RegionUpdate
from patron.stores.service import RegionNotFound, check_ids_exist

REGION_STORES = cast(Table, RegionStore.__table__)


class RegionCodeExists(Conflict):
    code = "region_code_exists"
    title = "A region with this code exists"


def snapshot(region: Region) -> dict[str, object]:
    return {"code": region.code, "name": region.name}


def list_regions(session: Session, actor: Actor) -> list[Region]:
    """The regions the actor reads (HQ: all; a regional manager: theirs), by code."""
    permissions.VIEW_REGIONS.check(actor)
    query = select(Region).order_by(Region.code)
    if actor.region_ids is not None:
        query = query.where(Region.id.in_(actor.region_ids))
    return list(session.scalars(query))


def get_region(session: Session, actor: Actor, region_id: int) -> Region:
    permissions.VIEW_REGIONS.check(actor)
    region = session.get(Region, region_id)
    if region is None or not actor.sees_region(region.id):
        raise RegionNotFound(f"no region {region_id}")
    return region


def find_region(session: Session, actor: Actor, code: str) -> Region:
    region_id = session.scalar(select(Region.id).where(Region.code == code))
    if region_id is None:
        raise RegionNotFound(f"no region with code {code}")
    return get_region(session, actor, region_id)


def create_region(session: Session, actor: Actor, data: RegionCreate) -> Region:
    permissions.MANAGE_REGIONS.check(actor)
    check_ids_exist(session, data.store_ids)
    region = Region(code=data.code, name=data.name)
    taken = RegionCodeExists(f"region code {data.code} is taken", field="code")
    with unique_or(session, {"uq_regions_code": taken}):
        session.add(region)
    audit.record(session, actor, "region.create", "region", region.id, after=snapshot(region))
    if data.store_ids:
        set_stores(session, actor, region.id, data.store_ids)
    return region


def update_region(session: Session, actor: Actor, region_id: int, data: RegionUpdate) -> Region:
    permissions.MANAGE_REGIONS.check(actor)
    region = get_region(session, actor, region_id)
    changes = data.model_dump(exclude_unset=True)
    if None in changes.values():
        field = next(k for k, v in changes.items() if v is None)
        raise InvalidInput(field, "may not be null", code=Reason.missing)
    before = snapshot(region)
    for field, value in changes.items():
        setattr(region, field, value)
    taken = RegionCodeExists(f"region code {region.code} is taken", field="code")
    with unique_or(session, {"uq_regions_code": taken}):
        session.flush()
    old, new = audit.changed_fields(before, snapshot(region))
    if new:
        audit.record(session, actor, "region.update", "region", region.id, before=old, after=new)
    return region


def set_stores(session: Session, actor: Actor, region_id: int, store_ids: list[int]) -> Region:
    """Make these the region's stores: the others leave it, those of another region move here."""
    permissions.MANAGE_REGIONS.check(actor)
    region = get_region(session, actor, region_id)
    # Locked: two edits of one region's stores take turns.
    session.refresh(region, with_for_update=True)
    wanted = list(dict.fromkeys(store_ids))
    check_ids_exist(session, wanted)
    rows = session.execute(
        select(RegionStore.store_id, RegionStore.region_id).where(
            or_(RegionStore.region_id == region.id, RegionStore.store_id.in_(wanted))
        )
    )
    placed = {store: home for store, home in rows}
    before = sorted(store for store, home in placed.items() if home == region.id)
    leaving = sorted(set(before) - set(wanted))
    if leaving:
        session.execute(
            delete(RegionStore).where(
                RegionStore.region_id == region.id, RegionStore.store_id.in_(leaving)
            )
        )
    joining = [store for store in wanted if placed.get(store) != region.id]
    if joining:
        insert = insert_or_skip(session, REGION_STORES)
        session.execute(
            insert.values([{"store_id": s, "region_id": region.id} for s in joining])
            # A store placed meanwhile by another edit moves here all the same.
            .on_conflict_do_update(
                index_elements=["store_id"], set_={"region_id": insert.excluded.region_id}
            )
        )
    for store in joining:
        if placed.get(store) is not None:
            audit.record(
                session,
                actor,
                "store.move_region",
                "store",
                store,
                store_id=store,
                before={"region_id": placed[store]},
                after={"region_id": region.id},
            )
    after = sorted(wanted)
    if after != before:
        audit.record(
            session,
            actor,
            "region.set_stores",
            "region",
            region.id,
            before={"store_ids": before},
            after={"store_ids": after},
        )
    session.expire(region, ["assignments"])
    return region


def check_exist(session: Session, region_ids: Iterable[int]) -> None:
    wanted = set(region_ids)
    found = set(session.scalars(select(Region.id).where(Region.id.in_(wanted))))
    missing = sorted(wanted - found)
    if missing:
        raise InvalidInput(
            "region_ids",
            f"unknown region id(s): {', '.join(map(str, missing))}",
            code=Reason.unknown_region,
        )


def ids_for_codes(session: Session, codes: Iterable[str]) -> list[int]:
    """Region ids for the given codes, in the given order; an unknown code is invalid input."""
    wanted = list(dict.fromkeys(codes))
    rows = session.execute(select(Region.code, Region.id).where(Region.code.in_(wanted)))
    found = {code: region_id for code, region_id in rows}
    missing = [code for code in wanted if code not in found]
    if missing:
        raise InvalidInput(
            "regions", f"unknown region code(s): {', '.join(missing)}", code=Reason.unknown_region
        )
    return [found[code] for code in wanted]


def scope_of(session: Session, region_ids: Select[int]) -> tuple[frozenset[int], frozenset[int]]:
    """The regions `region_ids` selects and their stores now, in one query: a regional
    manager's scope (the staff domain selects their regions from its own table)."""
    rows = session.execute(
        select(Region.id, RegionStore.store_id)
        .outerjoin(RegionStore, RegionStore.region_id == Region.id)
        .where(Region.id.in_(region_ids))
    )
    regions: set[int] = set()
    stores: set[int] = set()
    for region, store in rows:
        regions.add(region)
        if store is not None:
            stores.add(store)
    return frozenset(regions), frozenset(stores)
