from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from patron.audit import permissions, service
from patron.audit.schemas import AuditEntryOut
from patron.core.actor import Actor
from patron.core.moments import Moment
from patron.core.pagination import Page
from patron.deps import OneHopRouter, SessionDep, require

router = OneHopRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEntryOut])
def list_audit(
    session: SessionDep,
    actor: Annotated[Actor, Depends(require(permissions.READ))],
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor_type: str | None = None,
    actor_id: int | None = None,
    action: str | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AuditEntryOut]:
    filters = service.AuditFilter(
        entity_type=entity_type,
        entity_id=entity_id,
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        since=since,
        until=until,
    )
    page = service.list_entries(session, filters, cursor, limit)
    return Page(
        items=[AuditEntryOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )
