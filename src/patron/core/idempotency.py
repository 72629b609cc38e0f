"""Idempotency keys for value-moving calls: a retry with the same key and body gets the first
result; the same key with another body is refused. The key is claimed inside the request's
transaction, so two concurrent requests with one key cannot both do the work."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, String, Table, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from patron.core import clock
from patron.core.actor import Actor
from patron.core.db import Base, insert_or_skip
from patron.core.errors import Conflict, InvalidInput, PatronError
from patron.core.reasons import Reason
from patron.core.statements import Prepared

MAX_KEY_LENGTH = 128


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    title = "Idempotency key reused with a different request"


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("actor_type", "actor_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int] = mapped_column(default=0)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    scope: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(default=0)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)


RECORDS = cast(Table, IdempotencyRecord.__table__)


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool


def fingerprint(scope: str, body: Any) -> str:
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


def check_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise InvalidInput(
            "Idempotency-Key",
            "this call moves value and needs an Idempotency-Key header",
            code=Reason.missing,
        )
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            "Idempotency-Key", f"at most {MAX_KEY_LENGTH} characters", code=Reason.too_long
        )
    return key.strip()


def run_once(
    session: Session,
    actor: Actor,
    key: str | None,
    scope: str,
    body: Any,
    work: Callable[[], tuple[int, dict[str, Any]]],
) -> Outcome:
    """Do `work` once per (caller, key); replay its stored response on a matching retry."""
    key = check_key(key)
    request_hash = fingerprint(scope, body)
    # One statement claims the key; a concurrent claim of the same key waits on PostgreSQL for
    # the first transaction and then inserts nothing, so the work runs once.
    claimed = CLAIM.rows(
        session,
        {
            "actor_type": actor.kind,
            "actor_id": actor.id or 0,
            "key": key,
            "scope": scope,
            "request_hash": request_hash,
            "status": 0,
            "created_at": clock.now(),
        },
    )
    if not claimed:
        return _replay(session, actor, key, request_hash)
    try:
        status, response = work()
    except PatronError as refused:
        if refused.keeps_changes:  # committed with what it counts: the key stays free
            session.execute(delete(RECORDS).where(RECORDS.c.id == claimed[0][0]))
        raise
    STORE.run(session, {"record_id": claimed[0][0], "status": status, "response": response})
    return Outcome(status, response, replayed=False)


CLAIMED = ("actor_type", "actor_id", "key", "scope", "request_hash", "status", "created_at")
CLAIM = Prepared(
    lambda session: (
        insert_or_skip(session, RECORDS)
        .values({c: bindparam(c, type_=RECORDS.c[c].type) for c in CLAIMED})
        .on_conflict_do_nothing(index_elements=["actor_type", "actor_id", "key"])
        .returning(RECORDS.c.id)
    )
)
STORE = Prepared(
    lambda _: (
        update(RECORDS)
        .where(RECORDS.c.id == bindparam("record_id"))
        .values(
            status=bindparam("status"),
            response=bindparam("response", type_=RECORDS.c.response.type),
        )
    )
)


def _replay(session: Session, actor: Actor, key: str, request_hash: str) -> Outcome:
    first = session.execute(
        select(RECORDS.c.request_hash, RECORDS.c.response).where(
            RECORDS.c.actor_type == actor.kind,
            RECORDS.c.actor_id == (actor.id or 0),
            RECORDS.c.key == key,
        )
    ).first()
    if first is None or first.response is None:
        raise Conflict("a request with this Idempotency-Key is still being processed")
    if first.request_hash != request_hash:
        raise IdempotencyConflict("this Idempotency-Key was used for a different request")
    return Outcome(200, first.response, replayed=True)
