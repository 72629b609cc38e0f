"""The FastAPI application: API under /api/v1, console under /console, /healthz."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from patron import __version__, problems
from patron.apikeys.api import router as apikeys_router
from patron.audit.api import router as audit_router
from patron.catalog.api import router as catalog_router
from patron.console import routes as console
from patron.core import clock, crypto, db
from patron.core.logging import configure_logging
from patron.core.ratelimit import RateLimiter
from patron.core.settings import Settings, get_settings
from patron.members.api import router as members_router
from patron.middleware import RequestContextMiddleware
from patron.orders.api import router as orders_router
from patron.points.api import router as points_router
from patron.staff.api import auth_router
from patron.staff.api import router as staff_router
from patron.stores.api import router as stores_router

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
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
    ):
        router.include_router(domain_router)
    return router


def create_app(settings: Settings | None = None, session_factory: Any = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    crypto.configure(settings.secret_key)
    clock.set_business_timezone(settings.timezone)
    app = FastAPI(
        title="Patron",
        version=__version__,
        description="Membership and loyalty platform for retail chains (会员管理与营销系统).",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.session_factory = session_factory or sessionmaker(
        db.make_engine(settings.database_url), expire_on_commit=False
    )
    app.state.login_limiter = RateLimiter(settings.rate_limit_storage, settings.login_rate_limit)
    app.add_middleware(RequestContextMiddleware)
    problems.install(app)
    app.include_router(api_router())
    console.mount(app)

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> JSONResponse:
        try:
            with request.app.state.session_factory() as session:
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
