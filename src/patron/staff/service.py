"""Staff users: accounts, roles and store scope, and logging in with lockout."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import Select, Table, exists, false, select
from sqlalchemy.orm import Session, selectinload

from patron.audit import service as audit
from patron.core import clock
from patron.core.actor import HQ_ROLES, Actor, Role
from patron.core.db import insert_or_skip, unique_or
from patron.core.errors import Conflict, Forbidden, InvalidInput, NotFound, PatronError
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.core.security import (
    DUMMY_PASSWORD_HASH,
    AccessToken,
    hash_password,
    issue_access_token,
    password_needs_rehash,
    read_access_token,
    verify_password,
)
from patron.core.settings import Settings
from patron.staff import permissions
from patron.staff.models import RevokedToken, StaffRegionScope, StaffStoreScope, StaffUser
from patron.staff.schemas import StaffCreate, StaffUpdate
from patron.stores import regions
from patron.stores import service as stores

# What a store manager (who manages staff without `permissions.MANAGE_ANY`) may hire and edit in
# their own stores.
MANAGED_BY_STORE_MANAGER = (Role.cashier, Role.guide)

REVOKED_TOKENS = cast(Table, RevokedToken.__table__)


class StaffNotFound(NotFound):
    code = "staff_not_found"
    title = "Staff user not found"


class UsernameTaken(Conflict):
    code = "username_taken"
    title = "Username is taken"


class InvalidCredentials(PatronError):
    status = 401
    code = "invalid_credentials"
    title = "Wrong username or password"
    keeps_changes = True


class AccountLocked(PatronError):
    status = 423
    code = "account_locked"
    title = "Account locked after repeated failed logins"
    keeps_changes = True


def snapshot(user: StaffUser) -> dict[str, object]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "all_stores": user.all_stores,
        "store_ids": user.store_ids,
        "region_ids": user.region_ids,
        "is_active": user.is_active,
    }


def actor_for(session: Session, user: StaffUser) -> Actor:
    """The user as an actor; a regional manager's stores are their regions' stores now (one
    query more, for this role only)."""
    role = Role(user.role)
    if role is Role.regional_manager:
        mine = select(StaffRegionScope.region_id).where(StaffRegionScope.staff_id == user.id)
        region_ids, store_ids = regions.scope_of(session, mine)
        return Actor(
            kind="staff",
            id=user.id,
            name=user.username,
            role=role,
            store_ids=store_ids,
            region_ids=region_ids,
        )
    return Actor(
        kind="staff",
        id=user.id,
        name=user.username,
        role=role,
        store_ids=None if user.all_stores else frozenset(user.store_ids),
    )


# --- visibility -------------------------------------------------------------------------------


def _visible_query(actor: Actor) -> Select[StaffUser]:
    query = select(StaffUser)
    if permissions.MANAGE_ANY.allows(actor):
        return query
    if permissions.MANAGE.allows(actor) and actor.store_ids is not None:
        # A manager sees staff confined to their stores: no all-store staff, no scope outside.
        outside = exists().where(
            StaffStoreScope.staff_id == StaffUser.id,
            StaffStoreScope.store_id.not_in(actor.store_ids),
        )
        inside = exists().where(
            StaffStoreScope.staff_id == StaffUser.id,
            StaffStoreScope.store_id.in_(actor.store_ids),
        )
        return query.where(StaffUser.all_stores.is_(False), inside, ~outside)
    if actor.kind == "staff" and actor.id is not None:
        # Anyone else sees their own account; an API key's id is no staff user's id.
        return query.where(StaffUser.id == actor.id)
    return query.where(false())


def list_staff(
    session: Session,
    actor: Actor,
    cursor: str | None,
    limit: int,
    role: Role | None = None,
    store_id: int | None = None,
) -> PageResult[StaffUser]:
    query = _visible_query(actor).options(selectinload(StaffUser.region_scopes))
    if role is not None:
        query = query.where(StaffUser.role == role.value)
    if store_id is not None:
        query = query.where(
            exists().where(
                StaffStoreScope.staff_id == StaffUser.id, StaffStoreScope.store_id == store_id
            )
        )
    return paginate(session, query, StaffUser.id, cursor, limit)


def get_staff(session: Session, actor: Actor, staff_id: int) -> StaffUser:
    user = session.scalar(_visible_query(actor).where(StaffUser.id == staff_id))
    if user is None:
        raise StaffNotFound(f"no staff user {staff_id}")
    return user


# --- writes -----------------------------------------------------------------------------------


def _check_scope(
    session: Session,
    actor: Actor,
    role: Role,
    all_stores: bool,
    store_ids: list[int],
    region_ids: list[int],
) -> None:
    if role is Role.integration:
        raise InvalidInput(
            "role",
            "integration is the role of API keys, not of staff",
            code=Reason.role_not_allowed,
        )
    if role is Role.regional_manager:
        _check_regions(session, all_stores, store_ids, region_ids)
    elif region_ids:
        raise InvalidInput(
            "region_ids",
            "only a regional manager is scoped to regions",
            code=Reason.regions_not_allowed,
        )
    else:
        _check_stores(session, role, all_stores, store_ids)
    if permissions.MANAGE_ANY.allows(actor):
        return
    if role not in MANAGED_BY_STORE_MANAGER:
        raise Forbidden("store managers may only manage cashiers and guides")
    if all_stores or not all(actor.sees_store(store_id) for store_id in store_ids):
        raise Forbidden("store managers may only assign their own stores")


def _check_regions(
    session: Session, all_stores: bool, store_ids: list[int], region_ids: list[int]
) -> None:
    if all_stores or store_ids:
        raise InvalidInput(
            "store_ids" if store_ids else "all_stores",
            "a regional manager covers the stores of their regions, not stores given one by one",
            code=Reason.stores_conflict,
        )
    if not region_ids:
        raise InvalidInput(
            "region_ids",
            "a regional manager needs at least one region",
            code=Reason.regions_missing,
        )
    regions.check_exist(session, region_ids)


def _check_stores(session: Session, role: Role, all_stores: bool, store_ids: list[int]) -> None:
    if role in HQ_ROLES and not all_stores:
        raise InvalidInput(
            "all_stores", "HQ roles cover all stores", code=Reason.hq_needs_all_stores
        )
    if all_stores and store_ids:
        raise InvalidInput(
            "store_ids",
            "give either all_stores or a list of stores, not both",
            code=Reason.stores_conflict,
        )
    if not all_stores and not store_ids:
        raise InvalidInput(
            "store_ids", "a store role needs at least one store", code=Reason.stores_missing
        )
    stores.check_ids_exist(session, store_ids)


def _set_scopes(user: StaffUser, store_ids: list[int], region_ids: list[int]) -> None:
    user.scopes = [StaffStoreScope(store_id=store_id) for store_id in dict.fromkeys(store_ids)]
    user.region_scopes = [
        StaffRegionScope(region_id=region_id) for region_id in dict.fromkeys(region_ids)
    ]


def create_staff(session: Session, actor: Actor, data: StaffCreate) -> StaffUser:
    permissions.MANAGE.check(actor)
    _check_scope(session, actor, data.role, data.all_stores, data.store_ids, data.region_ids)
    user = StaffUser(
        username=data.username,
        display_name=data.display_name,
        password_hash=hash_password(data.password),
        role=data.role.value,
        all_stores=data.all_stores,
    )
    _set_scopes(user, data.store_ids, data.region_ids)
    taken = UsernameTaken(f"username {data.username} is taken", field="username")
    with unique_or(session, {"uq_staff_users_username": taken}):
        session.add(user)
    audit.record(
        session,
        actor,
        "staff.create",
        "staff",
        user.id,
        store_id=_home_store(user),
        after=snapshot(user),
    )
    return user


def update_staff(session: Session, actor: Actor, staff_id: int, data: StaffUpdate) -> StaffUser:
    permissions.MANAGE.check(actor)
    user = get_staff(session, actor, staff_id)
    # Locked and read again: two edits of one user take turns, the second replacing the store
    # scopes the first wrote (not inserting a scope row the first already added).
    session.refresh(user, with_for_update={"key_share": True})
    if not permissions.MANAGE_ANY.allows(actor) and Role(user.role) not in MANAGED_BY_STORE_MANAGER:
        # Checked before the new values: a manager edits cashiers and guides, not their peers.
        raise Forbidden("store managers may only manage cashiers and guides")
    changes = data.model_dump(exclude_unset=True)
    role = data.role or Role(user.role)
    all_stores = user.all_stores if data.all_stores is None else data.all_stores
    store_ids = user.store_ids if data.store_ids is None else data.store_ids
    region_ids = user.region_ids if data.region_ids is None else data.region_ids
    if data.role is not None and data.all_stores is None and role in HQ_ROLES:
        all_stores, store_ids = True, []
    if all_stores and data.store_ids is None:
        store_ids = []
    # A new role drops the scope of the old one that it was not given again.
    if role is Role.regional_manager:
        if data.store_ids is None:
            store_ids = []
        if data.all_stores is None:
            all_stores = False
    elif data.region_ids is None:
        region_ids = []
    if (
        actor.id == user.id
        and actor.kind == "staff"
        and (
            changes.get("is_active") is False
            or (data.role is not None and data.role.value != user.role)
        )
    ):
        raise Forbidden("you cannot deactivate yourself or change your own role")
    _check_scope(session, actor, role, all_stores, store_ids, region_ids)

    before = snapshot(user)
    user.role = role.value
    user.all_stores = all_stores
    _set_scopes(user, store_ids, region_ids)
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.is_active is not None and data.is_active != user.is_active:
        user.is_active = data.is_active
        user.token_version += 1
    session.flush()
    old, new = audit.changed_fields(before, snapshot(user))
    if new:
        audit.record(
            session,
            actor,
            "staff.update",
            "staff",
            user.id,
            store_id=_home_store(user),
            before=old,
            after=new,
        )
    if data.password is not None:
        reset_password(session, actor, user, data.password)
    return user


def reset_password(session: Session, actor: Actor, user: StaffUser, password: str) -> None:
    """Set a new password, lift any lockout, and end every session the old one opened."""
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.token_version += 1
    session.flush()
    audit.record(
        session, actor, "staff.reset_password", "staff", user.id, store_id=_home_store(user)
    )


def _home_store(user: StaffUser) -> int | None:
    return None if user.all_stores or not user.store_ids else user.store_ids[0]


# --- login ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    lock_for: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        return cls(settings.login_max_failures, timedelta(minutes=settings.login_lock_minutes))


def authenticate(session: Session, username: str, password: str, policy: LoginPolicy) -> StaffUser:
    """The user these credentials belong to; counts failures and locks after too many in a row."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username).with_for_update())
    now = clock.now()
    if user is None:
        verify_password(DUMMY_PASSWORD_HASH, password)
        raise InvalidCredentials()
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked(
            f"try again after {user.locked_until.isoformat()}",
            locked_until=user.locked_until.isoformat(),
        )
    if not verify_password(user.password_hash, password) or not user.is_active:
        return _count_failure(session, user, policy)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.flush()
    return user


def _count_failure(session: Session, user: StaffUser, policy: LoginPolicy) -> StaffUser:
    user.failed_logins += 1
    if user.failed_logins < policy.max_failures:
        session.flush()
        raise InvalidCredentials()
    user.failed_logins = 0
    user.locked_until = clock.now() + policy.lock_for
    until = user.locked_until.isoformat()
    session.flush()
    audit.record(
        session,
        actor_for(session, user),
        "staff.locked",
        "staff",
        user.id,
        store_id=_home_store(user),
        after={"locked_until": until},
    )
    raise AccountLocked(
        f"{policy.max_failures} wrong passwords in a row; locked until {until}",
        locked_until=until,
    )


def issue_token(user: StaffUser, settings: Settings) -> AccessToken:
    return issue_access_token(
        settings.secret_key,
        user.id,
        user.token_version,
        timedelta(minutes=settings.token_ttl_minutes),
    )


def actor_for_token(session: Session, settings: Settings, token: str) -> Actor | None:
    claims = read_access_token(settings.secret_key, token)
    if claims is None:
        return None
    user = session.get(StaffUser, claims.staff_id)
    if user is None or not user.is_active or user.token_version != claims.version:
        return None
    if session.get(RevokedToken, claims.token_id) is not None:
        return None
    return actor_for(session, user)


def sign_out(session: Session, settings: Settings, token: str) -> None:
    """Refuse this staff token from now on; other sessions of the same user go on working."""
    claims = read_access_token(settings.secret_key, token)
    user = session.get(StaffUser, claims.staff_id) if claims is not None else None
    if claims is None or user is None:
        return
    # One statement, so two sign-outs of one token at once (a double click) both succeed.
    revoked = session.execute(
        insert_or_skip(session, REVOKED_TOKENS)
        .values(token_id=claims.token_id, staff_id=user.id, expires_at=claims.expires_at)
        .on_conflict_do_nothing(index_elements=["token_id"])
        .returning(REVOKED_TOKENS.c.token_id)
    ).scalar_one_or_none()
    if revoked is None:
        return
    actor = actor_for(session, user)
    audit.record(session, actor, "staff.sign_out", "staff", user.id, store_id=_home_store(user))


def find_by_username(session: Session, username: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def find_active(session: Session, staff_id: int) -> StaffUser | None:
    user = session.get(StaffUser, staff_id)
    return user if user is not None and user.is_active else None


def usernames_by_id(session: Session, staff_ids: list[int]) -> dict[int, str]:
    if not staff_ids:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(set(staff_ids)))
    )
    return {staff_id: username for staff_id, username in rows}


def names_by_id(session: Session, staff_ids: Iterable[int]) -> dict[int, str]:
    """Each user's display name (the username where none is set), by id."""
    wanted = set(staff_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.display_name, StaffUser.username).where(
            StaffUser.id.in_(wanted)
        )
    )
    return {staff_id: shown or username for staff_id, shown, username in rows}


def ids_by_username(session: Session, usernames: Iterable[str]) -> dict[str, int]:
    """Staff ids by username, for the usernames that exist (unknown ones are left out)."""
    wanted = set(usernames)
    if not wanted:
        return {}
    rows = session.execute(
        select(StaffUser.username, StaffUser.id).where(StaffUser.username.in_(wanted))
    )
    return {username: staff_id for username, staff_id in rows}
