"""The journeys domain's errors. A definition that does not hold together (a step key nobody
defines, a loop without a wait, a coupon template, message template or tag that does not exist)
is a 422 `validation_error` naming the field and a stable code (patron.core.reasons)."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound


class JourneyNotFound(NotFound):
    code = "journey_not_found"
    title = "Journey not found"


class JourneyNameTaken(Conflict):
    code = "journey_name_taken"
    title = "A journey with this name exists"


class JourneyArchived(Conflict):
    """An archived journey is kept for its report: it is neither edited nor started again."""

    code = "journey_archived"
    title = "The journey is archived"


class JourneyStatusConflict(Conflict):
    """The move asked for does not start from the journey's status (pausing a draft)."""

    code = "journey_status_conflict"
    title = "Not possible in the journey's status"
