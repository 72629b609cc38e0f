"""FastAPI dependencies: the per-request transaction, the authenticated actor, and running a
value-moving call once per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel
from sqlalchemy.orm import Session

from patron.apikeys import service as apikeys
from patron.core import idempotency
from patron.core.actor import Actor
from patron.core.errors import PatronError, Unauthenticated
from patron.core.permissions import Permission
from patron.core.security import API_KEY_PREFIX
from patron.core.settings import Settings
from patron.staff import service as staff

API_PREFIX = "/api/v1"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENCY_KEY_HELP = "Required. A retry with the same key and body returns the first result."


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One request, one transaction: commit when the handler succeeds, roll back when it fails."""
    with request.app.state.session_factory() as session:
        if request.method in READ_METHODS and not _route_writes(request):
            session.connection(execution_options={"patron_read_only": True})
        try:
            yield session
        except PatronError as error:
            if error.keeps_changes:
                session.commit()
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()


def _route_writes(request: Request) -> bool:
    """Whether the route asked for `WriteSessionDep` (anywhere among its dependencies)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    return dependant is not None and _needs(dependant, write_session)


def _needs(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _needs(d, call) for d in dependant.dependencies)


# scope="function": the commit runs when the handler returns, before the response is sent, so a
# failed commit answers 500 instead of a success the database never kept.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def write_session(session: SessionDep) -> Session:
    """The request's session, declared by a read route that writes all the same (the audit row of
    a PII reveal or an export): its transaction is not read-only, so on SQLite it takes the write
    lock at BEGIN (waiting for it) instead of failing when it comes to write."""
    return session


WriteSessionDep = Annotated[Session, Depends(write_session)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def actor_from_token(session: Session, settings: Settings, token: str) -> Actor | None:
    if token.startswith(API_KEY_PREFIX):
        return apikeys.actor_for_key(session, token)
    return staff.actor_for_token(session, settings, token)


def current_actor(request: Request, session: SessionDep, settings: SettingsDep) -> Actor:
    token = bearer_token(request)
    actor = actor_from_token(session, settings, token) if token else None
    if actor is None:
        raise Unauthenticated("a valid bearer token (staff token or API key) is required")
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


@dataclass(frozen=True)
class Guard:
    """A dependency admitting only the actors its permission allows."""

    permission: Permission

    def __call__(self, actor: ActorDep) -> Actor:
        self.permission.check(actor)
        return actor


def require(permission: Permission) -> Guard:
    return Guard(permission)


@dataclass(frozen=True)
class Idempotent:
    """A value-moving call run once per (caller, Idempotency-Key): the first request creates
    (201), a retry with the same body replays that answer with 200, another body under the
    same key is `idempotency_conflict`, and no key is refused."""

    session: Session
    request: Request
    response: Response
    key: str | None

    def __call__(
        self, actor: Actor, data: BaseModel, work: Callable[[], BaseModel]
    ) -> dict[str, Any]:
        # The scope is the path under the API prefix, as stored by every earlier request.
        scope = f"{self.request.method} {self.request.url.path.removeprefix(API_PREFIX)}"
        outcome = idempotency.run_once(
            self.session,
            actor,
            self.key,
            scope,
            data.model_dump(mode="json"),
            lambda: (201, work().model_dump(mode="json")),
        )
        self.response.status_code = outcome.status
        return outcome.body


def idempotent(
    request: Request,
    response: Response,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(description=IDEMPOTENCY_KEY_HELP)] = None,
) -> Idempotent:
    return Idempotent(session, request, response, idempotency_key)


IdempotentDep = Annotated[Idempotent, Depends(idempotent)]
