"""The FastAPI application: API under /api/v1, console under /console, /healthz."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Union, get_args, get_origin

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from starlette.concurrency import run_in_threadpool

from patron import __version__, domains, problems
from patron.apikeys.api import router as apikeys_router
from patron.audit.api import router as audit_router
from patron.catalog.api import router as catalog_router
from patron.console import routes as console
from patron.core import clock, crypto, db
from patron.core.errors import InvalidInput
from patron.core.ids import MAX_ROW_ID
from patron.core.logging import configure_logging
from patron.core.ratelimit import RateLimiter
from patron.core.reasons import Reason
from patron.core.settings import Settings, get_settings
from patron.deps import API_PREFIX, one_hop
from patron.imports.api import router as imports_router
from patron.imports.runner import ImportQueue
from patron.members.api import router as members_router
from patron.middleware import RequestContextMiddleware
from patron.orders.api import router as orders_router
from patron.points.api import router as points_router
from patron.staff.api import auth_router
from patron.staff.api import router as staff_router
from patron.stores.api import router as stores_router

# A request waits this long at most for SQLite's write lock, then answers 503 with Retry-After.
REQUEST_WRITE_WAIT_SECONDS = 5.0


def _is_int(annotation: Any) -> bool:
    """`int` or `int | None`."""
    if get_origin(annotation) in (Union, types.UnionType):
        return set(get_args(annotation)) == {int, type(None)}
    return annotation is int


async def bounded_ids(request: Request) -> None:
    """Every `*_id` integer in the path or query string names a row, and the id columns are 32-bit:
    a larger number answers 422 here rather than 500 from the database (DataError, OverflowError).
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    for fields, values in (
        (route.dependant.path_params, request.path_params),
        (route.dependant.query_params, request.query_params),
    ):
        for field in fields:
            raw = values.get(field.alias)
            if not (field.name.endswith("_id") and _is_int(field.field_info.annotation)):
                continue
            try:
                value = int(str(raw))
            except ValueError:
                continue  # missing or not a number: FastAPI's own validation answers it
            if not -MAX_ROW_ID <= value <= MAX_ROW_ID:
                raise InvalidInput(
                    field.alias,
                    f"out of range: ids go up to {MAX_ROW_ID}",
                    code=Reason.out_of_range,
                )


class OneHopRouter(APIRouter):
    """Adds every sync endpoint wrapped by `deps.one_hop`: one worker thread per request."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, one_hop(endpoint), **kwargs)


def api_router() -> APIRouter:
    router = OneHopRouter(prefix=API_PREFIX, dependencies=[Depends(bounded_ids)])
    for domain_router in (
        auth_router,
        stores_router,
        staff_router,
        apikeys_router,
        audit_router,
        members_router,
        catalog_router,
        orders_router,
        points_router,
        imports_router,
    ):
        router.include_router(domain_router)
    return router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Imports a dead process left running are marked interrupted; at shutdown, running ones
    stop after their current batch."""
    imports: ImportQueue = app.state.imports
    await run_in_threadpool(imports.recover)
    yield
    await run_in_threadpool(imports.stop)


def create_app(settings: Settings | None = None, session_factory: Any = None) -> FastAPI:
    domains.load()
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    crypto.configure(settings.secret_key)
    clock.set_business_timezone(settings.timezone)
    app = FastAPI(
        title="Patron",
        version=__version__,
        description="Membership and loyalty platform for retail chains (会员管理与营销系统).",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory or sessionmaker(
        db.make_engine(settings.database_url, write_wait=REQUEST_WRITE_WAIT_SECONDS),
        expire_on_commit=False,
    )
    app.state.imports = ImportQueue(app.state.session_factory, settings)
    app.state.login_limiter = RateLimiter(settings.rate_limit_storage, settings.login_rate_limit)
    app.add_middleware(RequestContextMiddleware)
    problems.install(app)

    @app.exception_handler(db.DatabaseBusy)
    async def _database_busy(request: Request, exc: db.DatabaseBusy) -> JSONResponse:
        retry_after = {"Retry-After": str(exc.retry_after_seconds)}
        return problems.problem_response(
            request, exc.status, exc.code, exc.title, exc.detail, retry_after
        )

    app.include_router(api_router())
    console.mount(app)

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> JSONResponse:
        try:
            with request.app.state.session_factory() as session:
                # Read-only: on SQLite it never waits behind a writer (an import's batch).
                session.connection(execution_options={db.READ_ONLY: True})
                session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return problems.problem_response(
                request,
                503,
                "database_unavailable",
                "Database unavailable",
                "the database does not answer",
            )
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    return app
