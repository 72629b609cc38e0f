"""What a report is asked: a range of business days, the stores it covers (the reader's scope
narrowed by a store, a region or both), a channel, and whether to compare with the period
before."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.stores import service as stores

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366 + 1


@dataclass(frozen=True)
class Period:
    """Business days `first`..`last`, both included."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of as many days just before this one."""
        last = self.first - timedelta(days=1)
        return Period(last - timedelta(days=self.days - 1), last)


@dataclass(frozen=True)
class ReportQuery:
    period: Period
    # The stores the report covers; None: every store (and what belongs to no store).
    store_ids: frozenset[int] | None
    channel: str | None = None
    compare: bool = False
    # The filters as asked, echoed in the answer.
    store_id: int | None = None
    region_id: int | None = None

    def previous(self) -> ReportQuery:
        return replace(self, period=self.period.previous(), compare=False)


def period_of(first: date | None, last: date | None) -> Period:
    """The asked days; by default the DEFAULT_DAYS days up to today (business time)."""
    last = last or (first + timedelta(days=DEFAULT_DAYS - 1) if first else clock.today())
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput("to", "is before from", code=Reason.dates_reversed)
    period = Period(first, last)
    if period.days > MAX_DAYS:
        raise InvalidInput(
            "to", f"the range spans more than {MAX_DAYS} days", code=Reason.out_of_range
        )
    return period


def report_query(
    session: Session,
    actor: Actor,
    period: Period,
    *,
    store_id: int | None = None,
    region_id: int | None = None,
    channel: str | None = None,
    compare: bool = False,
) -> ReportQuery:
    """The query with the stores resolved: the actor's stores, narrowed to `store_id` and to
    the stores of `region_id`. A store the actor may not see is not found."""
    store_ids = actor.store_ids
    if store_id is not None:
        stores.get_store(session, actor, store_id)
        store_ids = frozenset({store_id})
    if region_id is not None:
        in_region = stores.store_ids_of_region(session, actor, region_id)
        store_ids = in_region if store_ids is None else store_ids & in_region
    return ReportQuery(period, store_ids, channel, compare, store_id, region_id)
