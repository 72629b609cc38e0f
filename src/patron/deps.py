"""FastAPI dependencies: the per-request transaction (run again when it loses a lock race), the
authenticated actor, and running a value-moving call once per Idempotency-Key."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.apikeys import service as apikeys
from patron.core import db, idempotency
from patron.core.actor import Actor, member_actor
from patron.core.errors import PatronError, Unauthenticated
from patron.core.permissions import Permission
from patron.core.security import API_KEY_PREFIX, read_member_token
from patron.core.settings import Settings
from patron.members.registry import find_active
from patron.problems import problem_response
from patron.staff import service as staff

API_PREFIX = "/api/v1"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENCY_KEY_HELP = "Required. A retry with the same key and body returns the first result."
# A request whose transaction loses a lock race (`db.transient`) runs again, this many times in
# all, then answers 503 with Retry-After; the pause before attempt n+1 is about n times this.
TRANSACTION_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.05
# A request body kept to be replayed; a larger one (a big upload) answers the 503 at once.
REPLAY_LIMIT_BYTES = 1 << 20
log = logging.getLogger("patron.db")


# The request's session, for the endpoint's thread (see `one_hop`).
_request_session: ContextVar[Session | None] = ContextVar("patron_request_session", default=None)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One request, one transaction: commit when the handler succeeds, roll back when it fails.

    Making the session does no I/O, so this runs on the event loop. The transaction starts and
    ends in the endpoint's own thread (`one_hop`); it is only finished here, in a thread, when
    something else left it open (an error in a dependency, a route outside the API)."""
    session: Session = request.app.state.session_factory()
    session.info[db.READ_ONLY] = request.method in READ_METHODS and not _route_writes(request)
    _request_session.set(session)
    try:
        yield session
    except Exception as error:
        if session.in_transaction():
            await run_in_threadpool(end_transaction, session, error)
        raise
    else:
        if session.in_transaction():
            await run_in_threadpool(end_transaction, session, None)
    finally:
        _request_session.set(None)
        session.close()


def begin_transaction(session: Session) -> None:
    """Start a read-only request's transaction as such (on SQLite a deferred one); a writing
    request's starts at its first statement."""
    if session.info.get(db.READ_ONLY) and not session.in_transaction():
        session.connection(execution_options={db.READ_ONLY: True})


def end_transaction(session: Session, error: BaseException | None) -> None:
    if error is None or (isinstance(error, PatronError) and error.keeps_changes):
        session.commit()
    else:
        session.rollback()


def one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A sync endpoint run with its whole transaction in one worker thread: begin, the handler,
    commit or rollback. FastAPI sees a coroutine, so it neither hops to run the endpoint nor to
    validate the response; the dependencies are async and do no blocking I/O (the actor's
    lookup aside). On SQLite the write lock is thus held for the handler alone."""
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    def in_transaction(kwargs: dict[str, Any]) -> Any:
        session = _request_session.get()
        if session is None:
            return endpoint(**kwargs)
        begin_transaction(session)
        try:
            result = endpoint(**kwargs)
        except Exception as error:
            end_transaction(session, error)
            raise
        end_transaction(session, None)
        return result

    @functools.wraps(endpoint)
    async def run(**kwargs: Any) -> Any:
        return await run_in_threadpool(in_transaction, kwargs)

    return run


class OneHopRouter(APIRouter):
    """A domain's API router: it adds every sync endpoint wrapped by `one_hop`. (Wrapping where
    the routers are included would not do: FastAPI includes a router's routes as they are.)"""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, one_hop(endpoint), **kwargs)


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


async def write_session(session: SessionDep) -> Session:
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


async def current_actor(request: Request, session: SessionDep, settings: SettingsDep) -> Actor:
    """The token's actor: an API key looked up lately comes from the cache, on the event loop;
    anything else takes a thread and a query."""
    token = bearer_token(request)
    actor = None
    if token and token.startswith(API_KEY_PREFIX):
        actor = apikeys.cached_actor_for_key(token)
    if token and actor is None:
        actor = await run_in_threadpool(_authenticate, session, settings, token)
    if actor is None:
        raise Unauthenticated("a valid bearer token (staff token or API key) is required")
    request.state.actor = actor
    return actor


def _authenticate(session: Session, settings: Settings, token: str) -> Actor | None:
    """Who the token names. On SQLite a writing request looks this up in a read transaction of
    its own, ended here: its write lock is taken later, by the handler, and for it alone."""
    split = not session.info.get(db.READ_ONLY) and session.get_bind().dialect.name == "sqlite"
    if split:
        session.connection(execution_options={db.READ_ONLY: True})
    else:
        begin_transaction(session)
    actor = actor_from_token(session, settings, token)
    if split:
        session.commit()
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


async def current_member(request: Request, session: SessionDep, settings: SettingsDep) -> Actor:
    """The member a member token names (`/api/v1/me/...`), as an actor reaching that member's own
    data only. Staff tokens and API keys are refused here, as member tokens are on staff routes
    (they are signed with different keys); an erased, merged or blocked member's token is dead."""
    token = bearer_token(request)
    claims = read_member_token(settings.secret_key, token) if token else None
    if claims is None:
        raise Unauthenticated("a valid member token is required")
    member_id = await run_in_threadpool(_active_member, session, claims.member_id)
    if member_id is None:
        raise Unauthenticated("a valid member token is required")
    actor = member_actor(member_id)
    request.state.actor = actor
    return actor


def _active_member(session: Session, member_id: int) -> int | None:
    """As `_authenticate`: on SQLite a writing request looks this up in a read transaction."""
    split = not session.info.get(db.READ_ONLY) and session.get_bind().dialect.name == "sqlite"
    if split:
        session.connection(execution_options={db.READ_ONLY: True})
    else:
        begin_transaction(session)
    member = find_active(session, member_id)
    found = member.id if member is not None else None
    if split:
        session.commit()
    return found


MemberDep = Annotated[Actor, Depends(current_member)]


@dataclass(frozen=True)
class Guard:
    """A dependency admitting only the actors its permission allows."""

    permission: Permission

    async def __call__(self, actor: ActorDep) -> Actor:
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

    def __call__(self, actor: Actor, data: BaseModel, work: Callable[[], BaseModel]) -> Response:
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
        # The body is the response model's own dump (a replay's too, stored at the first
        # request), so it is sent as it is, not validated against that model and dumped again.
        response = JSONResponse(outcome.body, outcome.status)
        response.headers.raw.extend(self.response.headers.raw)
        return response


async def idempotent(
    request: Request,
    response: Response,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(description=IDEMPOTENCY_KEY_HELP)] = None,
) -> Idempotent:
    return Idempotent(session, request, response, idempotency_key)


IdempotentDep = Annotated[Idempotent, Depends(idempotent)]


class RetryLostRaces:
    """ASGI middleware running a request again, from the start, when its transaction lost a lock
    race: PostgreSQL chose it as a deadlock's victim or refused it for a serialization conflict,
    or SQLite could not give it its lock. The database rolled that transaction back, and with it
    everything the request wrote (its idempotency key's claim, audit entries, outbox events), and
    nothing was sent yet (the transaction ends before the response starts); the next attempt has
    a session and a transaction of its own. After TRANSACTION_ATTEMPTS: 503 with Retry-After.

    Sits inside RequestContextMiddleware (one request id, one access log line per request) and
    outside the routes, so it works whichever router or page the request reaches."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _ReplayableBody(receive)
        started = False

        async def send_marked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        attempt = 1
        while True:
            try:
                await self.app(dict(scope), body.receive, send_marked)
                return
            except DBAPIError as error:
                if started or not db.transient(error):
                    raise
                if attempt == TRANSACTION_ATTEMPTS or body.too_large:
                    await _busy(scope, error)(scope, receive, send)
                    return
                log.warning("transaction retried", extra={"attempt": attempt, "error": error.orig})
                await asyncio.sleep(RETRY_PAUSE_SECONDS * attempt * random.uniform(0.5, 1.5))
                body.rewind()
                attempt += 1


def _busy(scope: Scope, error: DBAPIError) -> Response:
    busy = db.DatabaseBusy(f"the database is busy ({type(error.orig).__name__}); retry")
    return problem_response(
        Request(scope),
        busy.status,
        busy.code,
        busy.title,
        busy.detail,
        {"Retry-After": str(busy.retry_after_seconds)},
    )


class _ReplayableBody:
    """The request's body messages as received, kept (up to REPLAY_LIMIT_BYTES) to be received
    again by the next attempt; past what was kept, the client's own `receive`."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._kept: list[Message] = []
        self._size = 0
        self._next = 0
        self.too_large = False

    async def receive(self) -> Message:
        if self._next < len(self._kept):
            self._next += 1
            return self._kept[self._next - 1]
        message = await self._receive()
        if message["type"] == "http.request" and not self.too_large:
            self._size += len(message.get("body", b""))
            self.too_large = self._size > REPLAY_LIMIT_BYTES
            self._kept.append(message)
            self._next += 1
        return message

    def rewind(self) -> None:
        self._next = 0
