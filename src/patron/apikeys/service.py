"""API keys: how a POS, online mall or ERP authenticates. Stored hashed, shown once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.apikeys.models import ApiKey, ApiKeyStoreScope
from patron.apikeys.schemas import ApiKeyCreate
from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import Actor, Role
from patron.core.errors import InvalidInput, NotFound
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.core.security import hash_api_key, new_api_key
from patron.core.ttlcache import TtlCache, drop_on_change
from patron.stores import service as stores


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    title = "API key not found"


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    key: str


def snapshot(api_key: ApiKey) -> dict[str, object]:
    return {
        "name": api_key.name,
        "prefix": api_key.prefix,
        "all_stores": api_key.all_stores,
        "store_ids": api_key.store_ids,
        "revoked": api_key.revoked_at is not None,
    }


def create_key(session: Session, actor: Actor, data: ApiKeyCreate) -> CreatedKey:
    if data.all_stores and data.store_ids:
        raise InvalidInput(
            "store_ids",
            "give either all_stores or a list of stores, not both",
            code=Reason.stores_conflict,
        )
    if not data.all_stores and not data.store_ids:
        raise InvalidInput(
            "store_ids",
            "an API key needs all_stores or at least one store",
            code=Reason.stores_missing,
        )
    stores.check_ids_exist(session, data.store_ids)
    key = new_api_key()
    api_key = ApiKey(
        name=data.name,
        prefix=key[:10],
        key_hash=hash_api_key(key),
        all_stores=data.all_stores,
        created_by_id=actor.id if actor.kind == "staff" else None,
        scopes=[ApiKeyStoreScope(store_id=sid) for sid in dict.fromkeys(data.store_ids)],
    )
    session.add(api_key)
    session.flush()
    audit.record(session, actor, "api_key.create", "api_key", api_key.id, after=snapshot(api_key))
    return CreatedKey(api_key, key)


def list_keys(session: Session, cursor: str | None, limit: int) -> PageResult[ApiKey]:
    return paginate(session, select(ApiKey), ApiKey.id, cursor, limit)


def revoke_key(session: Session, actor: Actor, key_id: int) -> ApiKey:
    api_key = session.get(ApiKey, key_id)
    if api_key is None:
        raise ApiKeyNotFound(f"no API key {key_id}")
    if api_key.revoked_at is None:
        api_key.revoked_at = clock.now()
        session.flush()
        audit.record(
            session,
            actor,
            "api_key.revoke",
            "api_key",
            api_key.id,
            before={"revoked": False},
            after={"revoked": True},
        )
    return api_key


# Key hash -> the actor it authenticates; a revocation elsewhere takes effect within the TTL.
_actors: TtlCache[Actor] = TtlCache()
drop_on_change(_actors, ApiKey, "after_update", "after_delete")


def actor_for_key(session: Session, key: str) -> Actor | None:
    key_hash = hash_api_key(key)
    return _actors.get(key_hash, lambda: _load_actor(session, key_hash))


def cached_actor_for_key(key: str) -> Actor | None:
    """The actor of a key this process looked up within the cache's time, without a query."""
    return _actors.get(hash_api_key(key), lambda: None)


def _load_actor(session: Session, key_hash: str) -> Actor | None:
    """One statement: the key and its store scopes (none for an all-stores key)."""
    rows = session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.all_stores, ApiKeyStoreScope.store_id)
        .outerjoin(ApiKeyStoreScope, ApiKeyStoreScope.api_key_id == ApiKey.id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).all()
    if not rows:
        return None
    key_id, name, all_stores, _ = rows[0]
    return Actor(
        kind="api_key",
        id=key_id,
        name=f"api-key:{name}",
        role=Role.integration,
        store_ids=None if all_stores else frozenset(r.store_id for r in rows if r.store_id),
    )
