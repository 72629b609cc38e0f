"""The checkout job: open quotes a day past their expiry go, committed ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.checkout import jobs, service
from patron.checkout.models import CheckoutQuote, QuoteStatus
from patron.checkout.schemas import QuoteRequest
from patron.core import clock
from patron.core.actor import SYSTEM
from patron.schedule import service as schedule
from tests.checkout.helpers import basket, shop


def test_open_quotes_go_a_day_after_expiry_committed_ones_stay(session: Session) -> None:
    where = shop(session)
    ids = [service.quote(session, SYSTEM, QuoteRequest.model_validate(basket(where))).quote_id]
    ids.append(service.quote(session, SYSTEM, QuoteRequest.model_validate(basket(where))).quote_id)
    committed = session.get(CheckoutQuote, ids[1])
    assert committed is not None
    committed.status = QuoteStatus.committed.value
    session.flush()
    expires = committed.expires_at

    assert jobs.prune_expired_quotes(session, expires + timedelta(hours=23)) == 0
    assert jobs.scheduled(session, expires + timedelta(days=1, seconds=1)) == (
        "1 expired open quotes deleted"
    )
    assert session.scalars(select(CheckoutQuote.id)).all() == [ids[1]]
    assert jobs.prune_expired_quotes(session, clock.now() + timedelta(days=30)) == 0


def test_the_job_is_on_the_schedule() -> None:
    job = schedule.get_job("checkout")
    assert job.cadence.label == "daily 03:15"
