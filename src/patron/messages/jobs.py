"""The messages' scheduled work: every minute, send what is due (queued messages a task missed,
retries, deferred ones whose quiet hours are over); daily at 10:00 business time, send the
points and coupon expiry notices recorded lately (one message per notice, deduplicated)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.errors import PatronError
from patron.core.tasks import after_commit
from patron.coupons import notices as coupon_notices
from patron.members import consents
from patron.members.contacts import contact_of
from patron.members.models import ConsentChannel
from patron.messages import channels, service, tasks, templates
from patron.messages.kinds import Channel, Purpose
from patron.messages.models import Message
from patron.points import notices as points_notices
from patron.schedule.registry import EVERY_MINUTE, Job, daily, register

logger = logging.getLogger("patron.messages")
# Notices recorded this long ago still get their message (a day the job missed is caught up).
NOTICE_LOOKBACK = timedelta(days=3)
DUE_BATCH = 500  # messages to a delivery task
# Enough for a million-member campaign's messages deferred overnight, handed out in one run.
DUE_PER_RUN = 2_000_000


def send_due(session: Session, now: datetime) -> str:
    """Hand every due message (up to DUE_PER_RUN) to delivery tasks, DUE_BATCH to a task, once
    this run commits: deferred ones whose quiet hours are over, retries whose backoff has
    passed, and queued ones whose task was lost or whose worker died (their lease ran out). A
    message handed out twice is claimed once."""
    due, mark = service.hand_out(session, now, DUE_PER_RUN)
    for start in range(0, len(due), DUE_BATCH):
        batch = due[start : start + DUE_BATCH]
        after_commit(session, partial(tasks.deliver_messages, batch, mark))
    return f"{len(due)} due"


def notice_channel(session: Session, member_id: int) -> Channel:
    """WeChat when the member agreed to it, has a WeChat id and the channel is on; else SMS
    (which `send` skips as no_consent when the member did not agree to SMS either)."""
    contact = contact_of(session, member_id)
    if (
        contact is not None
        and contact.wechat_openid
        and consents.has_consent(session, member_id, ConsentChannel.wechat)
        and channels.sending_config(session, Channel.wechat) is not None
    ):
        return Channel.wechat
    return Channel.sms


def _day(moment: datetime) -> str:
    return moment.astimezone(clock.business_tz()).date().isoformat()


def _already(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(
            k
            for k in session.scalars(
                select(Message.dedupe_key).where(Message.dedupe_key.in_(chunk))
            )
            if k
        )
    return found


def send_notices(session: Session, now: datetime) -> str:
    templates.ensure_defaults(session)
    points = points_notices.recent_notices(session, now, NOTICE_LOOKBACK)
    coupons = coupon_notices.recent_notices(session, now, NOTICE_LOOKBACK)
    jobs: list[tuple[str, int, str, dict[str, object]]] = [
        (
            f"points-expiry:{n.id}",
            n.member_id,
            templates.POINTS_EXPIRING,
            {"points": n.points, "date": _day(n.expires_at)},
        )
        for n in points
    ] + [
        (
            f"coupon-expiry:{n.id}",
            n.member_id,
            templates.COUPON_EXPIRING,
            {"coupon": n.coupon_name, "date": _day(n.valid_until)},
        )
        for n in coupons
    ]
    done = _already(session, [key for key, *_ in jobs])
    written = errors = 0
    for key, member_id, code, variables in jobs:
        if key in done:
            continue
        try:
            with session.begin_nested():
                service.send(
                    session,
                    channel=notice_channel(session, member_id),
                    template_code=code,
                    variables=variables,
                    member_id=member_id,
                    purpose=Purpose.transactional,
                    consent_required=True,
                    source=code.replace("_", "."),
                    dedupe_key=key,
                )
            written += 1
        except PatronError as exc:  # a template that no longer renders: the others still go
            errors += 1
            logger.warning("notice %s: %s", key, exc.detail)
    return f"{written} notice messages, {errors} errors"


register(Job("messages.send_due", EVERY_MINUTE, send_due, "Send due and deferred messages"))
register(
    Job(
        "messages.expiry_notices",
        daily(10),
        send_notices,
        "Send points and coupon expiry notices (SMS or WeChat per consent)",
    )
)
