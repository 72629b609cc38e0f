"""Stores: the chain's owned (直营) and franchised (加盟) shops."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Exists, exists, func, or_, select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.db import unique_or
from patron.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.stores import permissions
from patron.stores.models import Region, RegionStore, Store, StoreStatus
from patron.stores.schemas import StoreCreate, StoreUpdate

# What a store manager may change about their own store; the rest needs EDIT_ALL_FIELDS.
MANAGER_EDITABLE = frozenset({"address", "phone"})


class StoreNotFound(NotFound):
    code = "store_not_found"
    title = "Store not found"


class RegionNotFound(NotFound):
    code = "region_not_found"
    title = "Region not found"


class StoreCodeExists(Conflict):
    code = "store_code_exists"
    title = "A store with this code exists"


def snapshot(store: Store) -> dict[str, object]:
    return {
        "code": store.code,
        "name": store.name,
        "type": store.type,
        "city": store.city,
        "address": store.address,
        "phone": store.phone,
        "status": store.status,
    }


@dataclass
class StoreFilter:
    status: StoreStatus | None = None
    type: str | None = None
    city: str | None = None
    q: str | None = None


def list_stores(
    session: Session, actor: Actor, filters: StoreFilter, cursor: str | None, limit: int
) -> PageResult[Store]:
    query = select(Store)
    if actor.store_ids is not None:
        query = query.where(Store.id.in_(actor.store_ids))
    if filters.status:
        query = query.where(Store.status == filters.status.value)
    if filters.type:
        query = query.where(Store.type == filters.type)
    if filters.city:
        query = query.where(Store.city == filters.city)
    if filters.q:
        pattern = f"%{filters.q.lower()}%"
        query = query.where(
            or_(func.lower(Store.name).like(pattern), func.lower(Store.code).like(pattern))
        )
    return paginate(session, query, Store.id, cursor, limit)


def get_store(session: Session, actor: Actor, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None or not actor.sees_store(store.id):
        raise StoreNotFound(f"no store {store_id}")
    return store


def create_store(session: Session, actor: Actor, data: StoreCreate) -> Store:
    store = Store(**data.model_dump(mode="json"))
    taken = StoreCodeExists(f"store code {data.code} is taken", field="code")
    with unique_or(session, {"uq_stores_code": taken}):
        session.add(store)
    audit.record(
        session, actor, "store.create", "store", store.id, store_id=store.id, after=snapshot(store)
    )
    return store


def update_store(session: Session, actor: Actor, store_id: int, data: StoreUpdate) -> Store:
    permissions.EDIT.check(actor)
    store = get_store(session, actor, store_id)
    changes = data.model_dump(mode="json", exclude_unset=True)
    if None in changes.values():
        field = next(k for k, v in changes.items() if v is None)
        raise InvalidInput(field, "may not be null", code=Reason.missing)
    if not set(changes) <= MANAGER_EDITABLE and not permissions.EDIT_ALL_FIELDS.allows(actor):
        raise Forbidden("store managers may change only the address and phone of their store")
    before = snapshot(store)
    for field, value in changes.items():
        setattr(store, field, value)
    session.flush()
    old, new = audit.changed_fields(before, snapshot(store))
    if new:
        action = "store.close" if new.get("status") == StoreStatus.closed else "store.update"
        audit.record(
            session, actor, action, "store", store.id, store_id=store.id, before=old, after=new
        )
    return store


def ids_for_codes(session: Session, codes: Iterable[str]) -> list[int]:
    """Store ids for the given codes, in the given order; an unknown code is invalid input."""
    wanted = list(dict.fromkeys(codes))
    rows = session.execute(select(Store.code, Store.id).where(Store.code.in_(wanted)))
    found = {code: store_id for code, store_id in rows}
    missing = [code for code in wanted if code not in found]
    if missing:
        raise InvalidInput(
            "stores", f"unknown store code(s): {', '.join(missing)}", code=Reason.unknown_store
        )
    return [found[code] for code in wanted]


def check_ids_exist(session: Session, store_ids: Iterable[int], field: str = "store_ids") -> None:
    wanted = set(store_ids)
    found = set(session.scalars(select(Store.id).where(Store.id.in_(wanted))))
    missing = sorted(wanted - found)
    if missing:
        raise InvalidInput(
            field,
            f"unknown store id(s): {', '.join(map(str, missing))}",
            code=Reason.unknown_store,
        )


def check_bookable(session: Session, actor: Actor, store_id: int | None) -> None:
    """The store a burn, an adjustment or an issue is booked to: none, or one that exists in
    the caller's scope."""
    if store_id is None:
        return
    if not actor.sees_store(store_id):
        raise InvalidInput(
            "store_id", f"no store {store_id} in your scope", code=Reason.unknown_store
        )
    check_ids_exist(session, [store_id], field="store_id")


def check_open(session: Session, store_id: int, field: str = "store_id") -> None:
    """A store that exists and is open (a points-mall pick-up store): else 422."""
    status = session.scalar(select(Store.status).where(Store.id == store_id))
    if status is None:
        raise InvalidInput(field, f"unknown store id(s): {store_id}", code=Reason.unknown_store)
    if status != StoreStatus.open.value:
        raise InvalidInput(field, f"store {store_id} is closed", code=Reason.store_closed)


def codes_by_id(session: Session, store_ids: Iterable[int]) -> dict[int, str]:
    ids = set(store_ids)
    if not ids:
        return {}
    rows = session.execute(select(Store.id, Store.code).where(Store.id.in_(ids)))
    return {store_id: code for store_id, code in rows}


def all_store_ids(session: Session) -> list[int]:
    """Every store's id, closed ones too (set-based work over all of them)."""
    return list(session.scalars(select(Store.id).order_by(Store.id)))


def count_stores(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Store)) or 0


def is_open(store_id: ColumnElement[int]) -> Exists:
    """A condition for another domain's statement (order intake checks its store in its insert):
    the store exists and is open."""
    return exists().where(Store.id == store_id, Store.status == StoreStatus.open.value)


def ids_by_code(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Store ids by code, for the codes that exist (unknown codes are left out)."""
    wanted = set(codes)
    if not wanted:
        return {}
    rows = session.execute(select(Store.code, Store.id).where(Store.code.in_(wanted)))
    return {code: store_id for code, store_id in rows}


def names_by_id(session: Session, store_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Each store's code and name, by id (profiles name a member's preferred stores)."""
    ids = set(store_ids)
    if not ids:
        return {}
    rows = session.execute(select(Store.id, Store.code, Store.name).where(Store.id.in_(ids)))
    return {store_id: (code, name) for store_id, code, name in rows}


def names_in(session: Session, store_ids: frozenset[int] | None) -> dict[int, tuple[str, str]]:
    """Each store's code and name, by id, of `store_ids` (None: every store), by code."""
    query = select(Store.id, Store.code, Store.name).order_by(Store.code)
    if store_ids is not None:
        query = query.where(Store.id.in_(store_ids))
    return {store_id: (code, name) for store_id, code, name in session.execute(query)}


def store_ids_of_region(session: Session, actor: Actor, region_id: int) -> frozenset[int]:
    """The stores of a region that the actor sees (reports filter by region). A region that
    does not exist, or is not one of a regional manager's, is not found; one whose stores are
    all outside the actor's scope is empty."""
    if session.get(Region, region_id) is None or not actor.sees_region(region_id):
        raise RegionNotFound(f"no region {region_id}")
    ids = session.scalars(select(RegionStore.store_id).where(RegionStore.region_id == region_id))
    return frozenset(i for i in ids if actor.sees_store(i))


def regions_for_choice(session: Session, actor: Actor) -> list[tuple[int, str, str]]:
    """The regions a report's region filter offers the actor (a regional manager: theirs), as
    (id, code, name), by code."""
    rows = session.execute(select(Region.id, Region.code, Region.name).order_by(Region.code))
    return [(i, code, name) for i, code, name in rows if actor.sees_region(i)]
