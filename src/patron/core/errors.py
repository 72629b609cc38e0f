"""One base error carrying an HTTP status and a stable `code`; domains subclass it."""

from __future__ import annotations

from typing import Any

from patron.core.reasons import Reason


class PatronError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    # The transaction edge rolls back on errors; an error that records something worth keeping
    # (a failed login counting toward a lockout) sets this so the edge commits before answering.
    keeps_changes: bool = False

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(PatronError):
    status = 404
    code = "not_found"
    title = "Not found"


class Unauthenticated(PatronError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(PatronError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class Conflict(PatronError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidInput(PatronError):
    """A request that parsed but breaks a rule: `field` names the culprit, `reason` is the
    stable code integrators match on (patron.core.reasons), `message` says it in English."""

    status = 422
    code = "validation_error"
    title = "Invalid input"

    def __init__(self, field: str, message: str, *, code: Reason) -> None:
        error = {"field": field, "code": code.value, "message": message}
        super().__init__(f"{field}: {message}", errors=[error])


class RateLimited(PatronError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class ServiceUnavailable(PatronError):
    """The database stayed busy (or a transaction kept losing a race): retry later. Any request
    that uses the database may answer it or a subclass, so the OpenAPI lists them all there.
    Answered with `Retry-After`: this many seconds."""

    status = 503
    code = "service_unavailable"
    title = "Service unavailable"
    retry_after_seconds = 1


class DatabaseUnavailable(PatronError):
    """`/healthz`: the database does not answer."""

    status = 503
    code = "database_unavailable"
    title = "Database unavailable"
