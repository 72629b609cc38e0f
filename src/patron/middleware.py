"""Request ids and access logs for every request."""

from __future__ import annotations

import logging
import re
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.core.context import new_request_id, request_id_var
from patron.problems import ERROR_LOGGED, internal_error_response

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_INCOMING = re.compile(r"[A-Za-z0-9._-]{8,64}")
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
