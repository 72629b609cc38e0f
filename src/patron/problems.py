"""Every error leaves the API as an RFC 9457 problem document with a stable `code`."""

from __future__ import annotations

import logging
import traceback
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from patron.core.context import current_request_id
from patron.core.errors import PatronError
from patron.core.ids import parse_row_id, row_ids
from patron.core.reasons import for_pydantic

PROBLEM_TYPE_BASE = "https://patron.dev/problems/"
log = logging.getLogger("patron.errors")
# Set in the ASGI scope once an unhandled error is logged, so that it is logged once.
ERROR_LOGGED = "patron.error_logged"
# PostgreSQL's SQLSTATE numeric_value_out_of_range.
_NUMERIC_VALUE_OUT_OF_RANGE = "22003"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem_response(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
        "instance": request.url.path,
        "request_id": current_request_id(),
        **extra,
    }
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def internal_error_response(request: Request) -> JSONResponse:
    return problem_response(request, 500, "internal_error", "Internal server error")


def number_out_of_range(exc: BaseException) -> bool:
    """A number the database cannot hold: PostgreSQL's numeric_value_out_of_range, or the
    OverflowError sqlite3 raises binding an int past 64 bits (not wrapped by SQLAlchemy)."""
    if isinstance(exc, DataError):
        return getattr(exc.orig, "sqlstate", None) == _NUMERIC_VALUE_OUT_OF_RANGE
    if isinstance(exc, OverflowError):
        frames = list(traceback.walk_tb(exc.__traceback__))
        return bool(frames) and frames[-1][0].f_globals.get("__name__", "").startswith(
            "sqlalchemy."
        )
    return False


def allowed_methods(request: Request) -> str:
    """Every method the request's path takes. The router answers 405 with the methods of the
    first route matching the path only, but routes share paths (GET and PATCH /members/{id}).
    A route whose row id the path does not give (/members/merge) does not take it, nor does a
    route with parameters a path that names another route literally (/coupons/evaluate)."""
    matched: list[tuple[RouteContext, dict[str, str]]] = []
    for route in iter_route_contexts(request.app.routes):
        match = route.path_regex.match(request.url.path) if route.methods else None
        if match and _names_rows(route, match.groupdict()):
            matched.append((route, match.groupdict()))
    if any(not params for _, params in matched):
        matched = [(route, params) for route, params in matched if not params]
    return ", ".join(sorted({m for route, _ in matched for m in route.methods or ()}))


def _names_rows(route: RouteContext, path_params: dict[str, str]) -> bool:
    if not isinstance(route.original_route, APIRoute):
        return True
    ids = [path_params[f.alias] for f in row_ids(route) if f.alias in path_params]
    return all(parse_row_id(value) is not None for value in ids)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(PatronError)
    async def _patron_error(request: Request, exc: PatronError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int):
            headers = {"Retry-After": str(retry_after)}
        return problem_response(
            request, exc.status, exc.code, exc.title, exc.detail, headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_name(tuple(e["loc"])),
                "code": for_pydantic(e["type"]).value,
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(
            request, 422, "validation_error", "Invalid input", detail, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        code = _HTTP_CODES.get(status, f"http_{status}")
        title = HTTPStatus(status).phrase
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(exc.headers or {})
        if status == 405:
            headers["Allow"] = allowed_methods(request)
        return problem_response(request, status, code, title, detail, headers or None)

    # The safety net behind bounded ids (app.py): any other number a column cannot hold. The
    # transaction is rolled back by the session dependency before this answers.
    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        if not number_out_of_range(exc):
            raise exc
        detail = "a number in the request is out of range"
        return problem_response(
            request, 422, "validation_error", "Invalid input", detail, errors=[]
        )

    # RequestContextMiddleware answers an unhandled error itself, while the request id is set;
    # this handler (in Starlette's outermost middleware) only answers what escapes that.
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if not request.scope.get(ERROR_LOGGED):
            log.exception("unhandled error", extra={"path": request.url.path})
        return internal_error_response(request)
