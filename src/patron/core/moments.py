"""Times that enter through the API: with an offset, and with a UTC equivalent. A time at the edge
of the calendar (0001-01-01T00:00+14:00, 9999-12-31T23:59-14:00) has none, so it is refused as
`out_of_range` naming its field, before any comparison or query overflows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

from patron.core.inputs import fits
from patron.core.reasons import Reason


def within_utc_range(moment: datetime) -> datetime:
    try:
        moment.astimezone(UTC)
    except OverflowError as exc:
        raise PydanticCustomError(Reason.out_of_range.value, "is out of range") from exc
    return moment


def written_out(value: object) -> object:
    """Refuse a number, or the text of one: pydantic would read it as Unix seconds, which the
    OpenAPI schema (`format: date-time`) does not offer."""
    if not fits(AwareDatetime, value):
        raise PydanticCustomError(
            Reason.not_a_datetime.value, "an ISO 8601 time with an offset is expected"
        )
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(written_out), AfterValidator(within_utc_range)]


def date_written_out(value: object) -> object:
    """Refuse a number, or the text of one, where a date is expected: pydantic would read it as
    Unix seconds."""
    if not fits(date, value):
        raise PydanticCustomError(Reason.not_a_date.value, "a date (YYYY-MM-DD) is expected")
    return value


Day = Annotated[date, BeforeValidator(date_written_out)]
