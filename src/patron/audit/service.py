"""The audit trail: every write leaves an entry saying who did what to which row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Insert, Table, bindparam, exists, insert, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from patron.audit.models import AuditEntry
from patron.core import clock, statements
from patron.core.actor import Actor
from patron.core.context import current_request_id
from patron.core.pagination import PageResult, paginate


def entry_values(
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    store_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of one entry, for `record` and for batches written with `record_many`."""
    return {
        "actor_type": actor.kind,
        "actor_id": actor.id,
        "actor_name": actor.name,
        "store_id": store_id,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
        "request_id": current_request_id(),
        "created_at": clock.now(),
    }


ENTRIES = cast(Table, AuditEntry.__table__)
ENTRY_COLUMNS = tuple(c.name for c in ENTRIES.columns if c.name != "id")


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    store_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One entry, in one INSERT (no ORM object to flush: the order path writes one per order)."""
    values = entry_values(
        actor, action, entity_type, entity_id, store_id=store_id, before=before, after=after
    )
    statements.insert_rows(session, ENTRIES, [values])


def record_many(session: Session, entries: list[dict[str, Any]]) -> None:
    """Entries built with `entry_values`, in one statement (imports write thousands)."""
    statements.insert_rows(session, ENTRIES, entries)


def entry_insert(entity_id: ColumnElement[Any]) -> Insert:
    """INSERT of one entry for a statement that also writes the entity it is about (on
    PostgreSQL, from the entity's INSERT ... RETURNING as a CTE): the entity's id from
    `entity_id`, the other columns from parameters that `entry_parameters` names."""
    given = [c for c in ENTRY_COLUMNS if c != "entity_id"]
    values = [bindparam(f"audit_{c}", type_=ENTRIES.c[c].type) for c in given]
    entity = sql_cast(entity_id, ENTRIES.c.entity_id.type)
    return insert(ENTRIES).from_select([*given, "entity_id"], select(*values, entity))


def entry_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters of `entry_insert` for an entry built with `entry_values`."""
    return {f"audit_{k}": v for k, v in values.items() if k != "entity_id"}


def recorded_since(
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object,
    since: datetime,
) -> bool:
    """Whether this actor left an entry of `action` on the entity since then."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    AuditEntry.entity_type == entity_type,
                    AuditEntry.entity_id == str(entity_id),
                    AuditEntry.actor_type == actor.kind,
                    AuditEntry.actor_id == actor.id,
                    AuditEntry.action == action,
                    AuditEntry.created_at >= since,
                )
            )
        )
    )


def changed_fields(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that differ, so an entry shows the change and not the whole row."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


@dataclass
class AuditFilter:
    entity_type: str | None = None
    entity_id: str | None = None
    actor_type: str | None = None
    actor_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_entries(
    session: Session, filters: AuditFilter, cursor: str | None, limit: int
) -> PageResult[AuditEntry]:
    query = select(AuditEntry)
    for column, value in (
        (AuditEntry.entity_type, filters.entity_type),
        (AuditEntry.entity_id, filters.entity_id),
        (AuditEntry.actor_type, filters.actor_type),
        (AuditEntry.actor_id, filters.actor_id),
        (AuditEntry.action, filters.action),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(AuditEntry.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEntry.created_at < filters.until)
    return paginate(session, query, AuditEntry.id, cursor, limit)
