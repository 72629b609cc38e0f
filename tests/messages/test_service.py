"""The send service: consent, weekly cap, quiet hours, transactional bypass, dedupe, sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from sqlalchemy.orm import Session

from patron.core import clock
from patron.members import consents
from patron.members.models import ConsentChannel
from patron.messages import jobs, service, templates
from patron.messages.errors import TemplateRenderFailed
from patron.messages.kinds import Channel, Purpose
from patron.messages.models import Message, MessageTemplate
from tests.factories import make_member

# 10:00 in Shanghai (business time): outside the default quiet hours 21:00-09:00.
DAYTIME = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
NIGHT = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 22:00 Shanghai


def template(
    session: Session,
    code: str = "promo",
    purpose: Purpose = Purpose.marketing,
    channel: Channel = Channel.sms,
    body: str = "{{ name }}，新品到店{{ offer }}",
) -> None:
    session.add(MessageTemplate(code=code, channel=channel.value, purpose=purpose.value, body=body))
    session.flush()


def promo(session: Session, member_id: int, **kw: object) -> Message:
    return service.send(
        session,
        channel=Channel.sms,
        template_code=kw.pop("code", "promo"),  # type: ignore[arg-type]
        variables={"offer": "满100减20"},
        member_id=member_id,
        source="test",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
def _daytime() -> None:
    clock.set_now(DAYTIME)


def test_marketing_needs_consent(session: Session, log_channels: None) -> None:
    template(session)
    member = make_member(session)  # no consent at all
    message = promo(session, member.id)
    session.commit()
    assert (message.status, message.reason) == ("skipped", "no_consent")
    assert message.recipient is None
    assert message.body == ""
    consents.record_consent(session, member.id, ConsentChannel.sms, False, "test")
    assert promo(session, member.id).reason == "no_consent"


def test_marketing_with_consent_is_rendered_and_sent_after_commit(
    session: Session, log_channels: None
) -> None:
    template(session)
    member = make_member(session, name="李娜", consents={"sms": True})
    message = promo(session, member.id)
    assert message.status == "queued"
    assert message.body == "李娜，新品到店满100减20回T退订"  # the unsubscribe text appended
    assert message.recipient == member.mobile
    assert message.recipient_masked == f"{member.mobile[3:6]}****{member.mobile[-4:]}"
    session.commit()  # the after-commit task delivers it
    session.refresh(message)
    assert message.status == "sent"
    assert message.provider_message_id == f"log-{message.id}"
    assert message.sent_at == DAYTIME


def test_rollback_sends_nothing(session: Session, log_channels: None) -> None:
    template(session)
    member = make_member(session, consents={"sms": True})
    session.commit()
    promo(session, member.id)
    session.rollback()
    assert session.query(Message).count() == 0


def test_weekly_cap_counts_sent_queued_and_deferred(session: Session, log_channels: None) -> None:
    template(session)
    member = make_member(session, consents={"sms": True})
    first = promo(session, member.id)
    clock.set_now(NIGHT)
    second = promo(session, member.id)
    assert (first.status, second.status) == ("queued", "deferred")
    third = promo(session, member.id)
    assert (third.status, third.reason) == ("skipped", "frequency_cap")
    # Skipped ones do not count; a week later the window has moved on.
    clock.set_now(DAYTIME + timedelta(days=7, minutes=1))
    assert promo(session, member.id).status == "queued"


def test_quiet_hours_defer_then_the_minute_job_sends(session: Session, log_channels: None) -> None:
    template(session)
    member = make_member(session, consents={"sms": True})
    clock.set_now(NIGHT)
    message = promo(session, member.id)
    session.commit()
    assert message.status == "deferred"
    # 09:00 next morning, Shanghai.
    assert message.send_after == datetime(2026, 6, 2, 1, 0, tzinfo=UTC)
    assert jobs.send_due(session, NIGHT + timedelta(hours=1)) == "0 due"
    clock.set_now(message.send_after)
    assert jobs.send_due(session, message.send_after) == "1 due"
    session.commit()  # the run's commit hands it to the queue
    session.refresh(message)
    assert message.status == "sent"


def test_a_marketing_message_due_in_the_quiet_hours_waits_for_their_end(
    session: Session, log_channels: None
) -> None:
    """Written in the day, its task lost; the minute job finds it at night: deferred, not sent."""
    template(session)
    member = make_member(session, consents={"sms": True})
    with mock.patch.object(service, "enqueue"):  # the task is lost
        message = promo(session, member.id)
        session.commit()
    assert message.status == "queued"
    clock.set_now(NIGHT)
    assert jobs.send_due(session, NIGHT) == "1 due"
    session.commit()
    session.refresh(message)
    assert (message.status, message.attempts) == ("deferred", 0)
    assert message.send_after == datetime(2026, 6, 2, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    clock.set_now(message.send_after)
    assert jobs.send_due(session, message.send_after) == "1 due"
    session.commit()
    session.refresh(message)
    assert message.status == "sent"


def test_transactional_bypasses_consent_cap_and_quiet_hours(
    session: Session, log_channels: None
) -> None:
    template(session, code="otp", purpose=Purpose.transactional, body="验证码{{ code }}")
    member = make_member(session)  # no consent
    clock.set_now(NIGHT)
    sent = [
        service.send(
            session,
            channel=Channel.sms,
            template_code="otp",
            variables={"code": "123456"},
            member_id=member.id,
        )
        for _ in range(5)
    ]
    assert {m.status for m in sent} == {"queued"}
    assert sent[0].body == "验证码123456"


def test_no_address(session: Session, log_channels: None) -> None:
    template(session, channel=Channel.email)
    member = make_member(session, consents={"email": True})  # no e-mail address
    message = service.send(
        session, channel=Channel.email, template_code="promo", member_id=member.id
    )
    assert (message.status, message.reason) == ("skipped", "no_address")


def test_channel_off_is_skipped(session: Session) -> None:
    template(session)
    member = make_member(session, consents={"sms": True})
    assert promo(session, member.id).reason == "channel_off"


def test_dedupe_key_answers_the_first_message(session: Session, log_channels: None) -> None:
    template(session)
    member = make_member(session, consents={"sms": True})
    first = promo(session, member.id, dedupe_key="campaign:1:member")
    again = promo(session, member.id, dedupe_key="campaign:1:member")
    assert again.id == first.id
    assert session.query(Message).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        "{{ name.__class__.__mro__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ offer.format_map }}{{ cycler.__init__.__globals__ }}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
    ],
)
def test_sandbox_refuses_attribute_escapes(session: Session, log_channels: None, body: str) -> None:
    template(session, body=body)
    member = make_member(session, consents={"sms": True})
    with pytest.raises(TemplateRenderFailed) as caught:
        promo(session, member.id)
    assert caught.value.code == "template_render_failed"


def test_missing_variable_is_a_clear_error(session: Session, log_channels: None) -> None:
    template(session, body="{{ name }} {{ nowhere }}")
    member = make_member(session, consents={"sms": True})
    with pytest.raises(TemplateRenderFailed, match="nowhere"):
        promo(session, member.id)


def test_expiry_notices_sent_once_per_notice_by_consent(
    session: Session, log_channels: None
) -> None:
    from patron.points.models import ExpiryNotice

    templates.ensure_defaults(session)
    sms = make_member(session, name="王芳", consents={"sms": True})
    none = make_member(session)
    expires = DAYTIME + timedelta(days=20)
    for member in (sms, none):
        session.add(
            ExpiryNotice(member_id=member.id, expires_at=expires, points=300, noticed_at=DAYTIME)
        )
    session.flush()
    assert jobs.send_notices(session, DAYTIME) == "2 notice messages, 0 errors"
    assert jobs.send_notices(session, DAYTIME) == "0 notice messages, 0 errors"
    rows = {m.member_id: m for m in session.query(Message)}
    assert rows[sms.id].body == "王芳，您有300积分将于2026-06-21到期，请尽快使用。回T退订"
    assert rows[sms.id].purpose == "transactional"
    assert rows[sms.id].status == "queued"
    assert rows[sms.id].dedupe_key.startswith("points-expiry:")  # type: ignore[union-attr]
    assert (rows[none.id].status, rows[none.id].reason) == ("skipped", "no_consent")


def test_a_queued_message_whose_task_was_lost_goes_with_the_minute_job(
    session: Session, log_channels: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patron.messages import tasks

    template(session)
    member = make_member(session, consents={"sms": True})
    worker = tasks.deliver_message
    monkeypatch.setattr(tasks, "deliver_message", lambda message_id: None)  # the worker died
    message = promo(session, member.id)
    session.commit()
    session.refresh(message)
    assert message.status == "queued"
    monkeypatch.setattr(tasks, "deliver_message", worker)  # a worker runs again
    assert jobs.send_due(session, DAYTIME) == "1 due"
    session.commit()
    session.refresh(message)
    assert (message.status, message.attempts) == ("sent", 1)
    assert jobs.send_due(session, DAYTIME) == "0 due"


def test_delivery_waits_for_the_outermost_commit(session: Session, log_channels: None) -> None:
    """A savepoint's release (unique_or, the console's attempt) is not the commit: the message
    is delivered only after the transaction that wrote it has committed."""
    template(session)
    member = make_member(session, consents={"sms": True})
    message = promo(session, member.id)
    with session.begin_nested():
        session.flush()
    session.refresh(message)
    assert message.status == "queued"
    session.commit()
    session.refresh(message)
    assert message.status == "sent"


def test_erasure_strips_messages_and_merge_moves_them(session: Session, log_channels: None) -> None:
    from patron.core.actor import SYSTEM
    from patron.members import merge, privacy

    template(session)
    kept = make_member(session, name="赵六", consents={"sms": True})
    gone = make_member(session, name="钱七", consents={"sms": True})
    clock.set_now(NIGHT)
    deferred = promo(session, gone.id)
    moved = promo(session, kept.id)
    survivor = make_member(session)
    merge.merge_members(session, SYSTEM, kept.id, survivor.id)
    privacy.erase_member(session, SYSTEM, gone.id, "PIPL")
    session.refresh(deferred)
    session.refresh(moved)
    assert (deferred.status, deferred.reason) == ("skipped", "member_inactive")
    assert (deferred.recipient, deferred.body, deferred.variables) == (None, "", {})
    assert moved.member_id == survivor.id


def test_a_worker_dying_mid_send_leaves_the_message_to_the_minute_job(
    session: Session, log_channels: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claimed, then the worker died before recording: nobody else takes it during its lease;
    after the lease the minute job hands it out again and it is sent (at least once)."""
    from patron.messages import tasks

    template(session)
    member = make_member(session, consents={"sms": True})
    worker = tasks.deliver_message
    monkeypatch.setattr(tasks, "deliver_message", lambda message_id: None)
    message = promo(session, member.id)
    session.commit()
    assert service.claim(session, message.id, DAYTIME) is not None  # ...and the worker dies
    session.commit()
    monkeypatch.setattr(tasks, "deliver_message", worker)
    assert jobs.send_due(session, DAYTIME + timedelta(minutes=1)) == "0 due"  # leased
    later = DAYTIME + service.LEASE
    clock.set_now(later)
    assert jobs.send_due(session, later) == "1 due"
    session.commit()
    session.refresh(message)
    assert (message.status, message.attempts) == ("sent", 2)


def test_marketing_sms_says_how_to_unsubscribe_once_and_transactional_sms_do_not(
    session: Session, log_channels: None
) -> None:
    template(session, body="{{ name }}，新品到店{{ offer }}。回T退订")
    template(session, "notice", Purpose.transactional, body="{{ name }}，您的订单已完成")
    member = make_member(session, name="李娜", consents={"sms": True})
    assert promo(session, member.id).body == "李娜，新品到店满100减20。回T退订"  # already there
    assert promo(session, member.id, code="notice").body == "李娜，您的订单已完成"


def test_marketing_to_a_bare_address_has_no_consent(session: Session, log_channels: None) -> None:
    template(session)
    message = service.send(
        session,
        channel=Channel.sms,
        template_code="promo",
        variables={"name": "x", "offer": "y"},
        recipient="+8613800001234",
    )
    assert (message.status, message.reason) == ("skipped", "no_consent")


def test_a_dedupe_key_written_meanwhile_by_another_transaction(
    session: Session, log_channels: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before the insert saw nothing (another transaction had not committed yet):
    the unique key decides, and the second send answers the first message, not a new one."""
    template(session)
    member = make_member(session, consents={"sms": True})
    first = promo(session, member.id, dedupe_key="journey:1:member")
    real, calls = service._existing, []

    def late(s: Session, key: str) -> Message | None:
        calls.append(key)
        return None if len(calls) == 1 else real(s, key)  # the pre-check misses

    monkeypatch.setattr(service, "_existing", late)
    second = promo(session, member.id, dedupe_key="journey:1:member")
    assert second.id == first.id
    assert len(calls) == 2
    assert session.query(Message).count() == 1
