"""Request ids and access logs for every request; no request with unusable text gets further."""

from __future__ import annotations

import logging
import re
import time

from fastapi.routing import iter_route_contexts
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.core import text
from patron.core.context import new_request_id, request_id_var
from patron.core.errors import InvalidInput
from patron.problems import ERROR_LOGGED, internal_error_response, problem_response

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_INCOMING = re.compile(r"[A-Za-z0-9._-]{8,64}")
# The headers read as text (the others are matched against patterns or decoded as tokens).
TEXT_HEADERS = (b"idempotency-key",)
log = logging.getLogger("patron.access")
error_log = logging.getLogger("patron.errors")


class RequestContextMiddleware:
    """Take the caller's X-Request-ID when it is sane, else make one; echo it; log the request.

    An unhandled error is logged and answered (500 problem) here, while the request id is still
    set: Starlette's own error middleware sits outside this one. It is then re-raised, as
    Starlette does, for the server (and test clients) to see."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = (
            dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        )
        request_id = incoming if _VALID_INCOMING.fullmatch(incoming) else new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception("unhandled error", extra={"path": scope["path"]})
            scope[ERROR_LOGGED] = True
            if not started_response:
                await internal_error_response(Request(scope))(scope, receive, send_with_id)
            raise
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class TextInputMiddleware:
    """Refuse a request whose path, query string or text headers hold what no text may
    (patron.core.text: control characters, bidirectional overrides) with a 422 problem naming
    the parameter, before any route, API or console, sees it. Body fields are the schemas' job."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = _refused_input(scope) if scope["type"] == "http" else None
        if refused is None:
            await self.app(scope, receive, send)
            return
        field, refusal = refused
        error = InvalidInput(field, refusal.message, code=refusal.code)
        request = Request(scope)
        response = problem_response(
            request, error.status, error.code, error.title, error.detail, **error.extra
        )
        await response(scope, receive, send)


def _refused_input(scope: Scope) -> tuple[str, text.Refusal] | None:
    refused = _refused_path(scope)
    if refused is not None:
        return refused
    query = QueryParams(scope["query_string"])
    for key in query:
        if (found := text.refusal(key)) is not None:
            return "query", found
    refused = text.first_refused(query.multi_items())
    if refused is not None:
        return refused
    headers = [
        (name.decode("latin-1").title(), value.decode("latin-1"))
        for name, value in scope["headers"]
        if name.lower() in TEXT_HEADERS
    ]
    return text.first_refused(headers)


def _refused_path(scope: Scope) -> tuple[str, text.Refusal] | None:
    """A refused path names the route parameter holding the refused text, if a route has one."""
    found = text.refusal(scope["path"])
    if found is None:
        return None
    for route in iter_route_contexts(getattr(scope.get("app"), "routes", [])):
        pattern = getattr(route, "path_regex", None)
        matched = pattern.match(scope["path"]) if pattern is not None else None
        if matched is not None and (refused := text.first_refused(matched.groupdict().items())):
            return refused
    return "path", found
