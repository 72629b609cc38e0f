"""The FastAPI application: API under /api/v1, console under /console, /healthz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from starlette.concurrency import run_in_threadpool

from patron import __version__, domains, problems
from patron.apikeys.api import router as apikeys_router
from patron.audit.api import router as audit_router
from patron.campaigns.api import router as campaigns_router
from patron.campaigns.report_api import router as campaign_reports_router
from patron.catalog.api import router as catalog_router
from patron.check_ins.api import router as check_ins_router
from patron.checkout.api import router as checkout_router
from patron.console import routes as console
from patron.core import clock, crypto, db, openapi
from patron.core.errors import DatabaseUnavailable, InvalidInput, ServiceUnavailable
from patron.core.ids import MAX_ROW_ID, row_ids
from patron.core.logging import configure_logging
from patron.core.openapi import ROW_ID_RANGE, errors
from patron.core.ratelimit import RateLimiter
from patron.core.reasons import Reason
from patron.core.settings import Settings, get_settings
from patron.count_cards.api import router as count_cards_router
from patron.coupons.api import router as coupons_router
from patron.deps import API_PREFIX, RetryLostRaces
from patron.imports.api import router as imports_router
from patron.imports.runner import ImportQueue
from patron.journeys.api import router as journeys_router
from patron.mall.api import router as mall_router
from patron.me.api import router as me_router
from patron.member_auth.api import router as member_auth_router
from patron.member_page import routes as member_page
from patron.members.api import router as members_router
from patron.messages.api import router as messages_router
from patron.middleware import RequestContextMiddleware, TextInputMiddleware
from patron.orders.api import router as orders_router
from patron.points.api import router as points_router
from patron.profiles.api import router as profiles_router
from patron.referrals.api import router as referrals_router
from patron.reports.api import router as reports_router
from patron.schedule.api import router as schedule_router
from patron.segments.api import router as segments_router
from patron.staff.api import auth_router
from patron.staff.api import router as staff_router
from patron.stored_value.api import router as stored_value_router
from patron.stores.api import regions_router
from patron.stores.api import router as stores_router
from patron.tags.api import router as tags_router
from patron.tiers.api import router as tiers_router
from patron.webhooks.api import router as webhooks_router

# A request waits this long at most for SQLite's write lock, then answers 503 with Retry-After.
REQUEST_WRITE_WAIT_SECONDS = 5.0


async def bounded_ids(request: Request) -> None:
    """Every `*_id` integer in the path or query string names a row, and the id columns are 32-bit:
    one outside 1..MAX_ROW_ID answers 422 here rather than 404, or 500 from the database
    (DataError, OverflowError). The OpenAPI document gives these parameters the same range.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    for field in row_ids(route):
        raw = request.path_params.get(field.alias, request.query_params.get(field.alias))
        try:
            value = int(str(raw))
        except ValueError:
            continue  # missing or not a number: FastAPI's own validation answers it
        if not ROW_ID_RANGE["minimum"] <= value <= ROW_ID_RANGE["maximum"]:
            raise InvalidInput(
                field.alias,
                f"out of range: ids go from 1 up to {MAX_ROW_ID}",
                code=Reason.out_of_range,
            )


# Routes are matched in this order, one by one: the till's routers (orders, points) come first
# since they take most requests.
DOMAIN_ROUTERS = (
    orders_router,
    checkout_router,
    points_router,
    coupons_router,
    stored_value_router,
    count_cards_router,
    members_router,
    auth_router,
    stores_router,
    regions_router,
    staff_router,
    apikeys_router,
    audit_router,
    catalog_router,
    imports_router,
    tiers_router,
    reports_router,
    schedule_router,
    messages_router,
    webhooks_router,
    tags_router,
    segments_router,
    campaigns_router,
    campaign_reports_router,
    profiles_router,
    journeys_router,
    check_ins_router,
    mall_router,
    member_auth_router,
    me_router,
    referrals_router,
)


def include_api(app: FastAPI) -> None:
    """Each domain's router under the API prefix, included into the app itself: a router nested
    in another costs every request a second and third pass over its routes."""
    for domain_router in DOMAIN_ROUTERS:
        app.include_router(domain_router, prefix=API_PREFIX, dependencies=[Depends(bounded_ids)])


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
    app.add_middleware(RetryLostRaces)  # innermost: a retry re-runs the routing only
    app.add_middleware(TextInputMiddleware)  # inside: its refusals carry the request id
    app.add_middleware(RequestContextMiddleware)
    problems.install(app)
    openapi.install(app)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
        retry_after = {"Retry-After": str(exc.retry_after_seconds)}
        return problems.problem_response(
            request, exc.status, exc.code, exc.title, exc.detail, retry_after
        )

    include_api(app)
    console.mount(app)
    member_page.mount(app)

    @app.get("/healthz", tags=["ops"], responses=errors(DatabaseUnavailable))
    def healthz(request: Request) -> JSONResponse:
        try:
            with request.app.state.session_factory() as session:
                # Read-only: on SQLite it never waits behind a writer (an import's batch).
                session.connection(execution_options={db.READ_ONLY: True})
                session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            down = DatabaseUnavailable
            detail = "the database does not answer"
            return problems.problem_response(request, down.status, down.code, down.title, detail)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    return app
