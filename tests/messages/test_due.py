"""The minute job hands out every due message in one run, in batches to delivery tasks (a
campaign's messages deferred overnight all go in the morning), and each is delivered once
however often it is handed out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.messages import jobs, service, tasks
from patron.messages.kinds import Channel, Purpose, Status
from patron.messages.models import Message, MessageTemplate
from tests.factories import make_member

MORNING = datetime(2026, 6, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, the quiet hours' end
Batches = list[tuple[list[int], datetime | None]]


def deferred(session: Session, count: int) -> None:
    """`count` marketing SMS deferred to the morning, written as a night's campaign writes them."""
    session.add(
        MessageTemplate(
            code="promo", channel="sms", purpose=Purpose.marketing.value, body="{{ name }}，满减"
        )
    )
    member = make_member(session, consents={"sms": True})
    row = {
        "member_id": member.id,
        "channel": Channel.sms.value,
        "template_code": "promo",
        "purpose": Purpose.marketing.value,
        "recipient": "13800000000",
        "recipient_masked": "138****0000",
        "body": "会员，满减",
        "status": Status.deferred.value,
        "source": "campaign:1",
        "send_after": MORNING,
        "created_at": MORNING - timedelta(hours=10),
    }
    session.execute(insert(Message), [row] * count)
    session.flush()


def recorded(monkeypatch: pytest.MonkeyPatch, deliver: bool) -> Batches:
    """The batches handed to delivery tasks (delivered too, or lost when not `deliver`)."""
    batches: Batches = []
    task: Callable[..., None] = tasks.deliver_messages

    def handed(message_ids: list[int], mark: datetime | None = None) -> None:
        batches.append((message_ids, mark))
        if deliver:
            task(message_ids, mark)

    monkeypatch.setattr(tasks, "deliver_messages", handed)
    return batches


def statuses(session: Session) -> dict[tuple[str, int], int]:
    rows = session.execute(
        select(Message.status, Message.attempts, func.count()).group_by(
            Message.status, Message.attempts
        )
    )
    return {(status, attempts): count for status, attempts, count in rows}


def test_one_run_hands_out_every_due_message_in_batches(
    session: Session, log_channels: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    deferred(session, 3_000)
    deliver = tasks.deliver_messages.call_local
    batches = recorded(monkeypatch, deliver=False)
    clock.set_now(MORNING)
    assert jobs.send_due(session, MORNING - timedelta(minutes=1)) == "0 due"
    assert jobs.send_due(session, MORNING) == "3000 due"
    session.commit()  # the run's commit hands them to the queue
    assert [len(ids) for ids, _ in batches] == [500] * 6
    assert len({i for ids, _ in batches for i in ids}) == 3_000
    assert jobs.send_due(session, MORNING + timedelta(minutes=1)) == "0 due"
    deliver(*batches[0])  # a worker takes the first task
    assert statuses(session) == {("sent", 1): 500, ("deferred", 0): 2_500}


def test_a_message_handed_out_again_is_delivered_once(
    session: Session, log_channels: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    deferred(session, 120)
    deliver = tasks.deliver_messages.call_local
    lost = recorded(monkeypatch, deliver=False)
    clock.set_now(MORNING)
    assert jobs.send_due(session, MORNING) == "120 due"
    session.commit()  # handed out, but the tasks wait in the queue (or are lost)
    later = MORNING + timedelta(minutes=1)
    assert jobs.send_due(session, later) == "0 due"  # not handed out again while they wait
    # Once the mark has passed, a lost task's messages go again: with a new mark.
    again = MORNING + service.HAND_OUT + timedelta(minutes=1)
    clock.set_now(again)
    assert jobs.send_due(session, again) == "120 due"
    session.commit()
    (first, old), (second, new) = lost
    assert sorted(first) == sorted(second)
    assert (old, new) == (MORNING + service.HAND_OUT, again + service.HAND_OUT)
    # A message deferred or handed out is not taken by a task without its mark.
    tasks.deliver_message.call_local(first[0])
    deliver(first, old)  # the first run's task, late: nothing
    assert statuses(session) == {("deferred", 0): 120}
    deliver(second, new)
    deliver(second, new)  # a task run twice
    deliver(first, old)
    assert statuses(session) == {("sent", 1): 120}
