"""The one way anything sends a message: `send` writes the message row in the caller's
transaction, decided (consent, weekly cap, quiet hours, address) and rendered; after the commit a
task delivers it through the channel's provider. Queued messages a task missed and deferred ones
whose quiet hours have ended go out with the minute job (`messages.jobs`).

Marketing messages need the member's consent for the channel, respect the weekly cap per member
and channel (sent, queued and deferred ones count) and wait out the quiet hours (deferred, not
dropped). Transactional messages (one-time codes, receipts, service notices) skip those checks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from patron.core import clock
from patron.core.db import insert_or_skip
from patron.core.errors import InvalidInput
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.core.settings import get_settings
from patron.members import consents
from patron.members.contacts import Contact, contact_of
from patron.members.masking import mask_email, mask_mobile, mask_value
from patron.members.models import ConsentChannel
from patron.members.schemas import normalize_mobile
from patron.messages import channels, rendering, tasks, templates, unsubscribe
from patron.messages.errors import (
    MessageNotFound,
    MessageTemplateNotFound,
    ProviderFailed,
    RecipientRequired,
)
from patron.messages.kinds import COUNTED, Channel, Purpose, Skip, Status
from patron.messages.models import Message, MessageTemplate
from patron.messages.policy import quiet_until
from patron.messages.providers import Provider

logger = logging.getLogger("patron.messages")
MESSAGES = cast(Table, Message.__table__)
CAP_WINDOW = timedelta(days=7)
MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(minutes=1)  # then 2, 4, 8 minutes
# How long a claimed message stays with the worker sending it before the minute job may hand
# it to another (the worker died mid-send): longer than any provider call may take.
LEASE = timedelta(minutes=5)
# How long a message the minute job handed out waits for its task before it is handed out again.
HAND_OUT = timedelta(hours=1)
TEST_TEMPLATE = "_test"
TEST_BODY = "Patron test message / Patron 测试消息"


@dataclass(frozen=True)
class Decision:
    status: Status
    reason: str = ""
    send_after: datetime | None = None


def get_template(session: Session, code: str, channel: Channel) -> MessageTemplate:
    template = session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.code == code,
            MessageTemplate.channel == channel.value,
            MessageTemplate.active.is_(True),
        )
    )
    if template is None:
        raise MessageTemplateNotFound(f"no active template {code!r} for {channel.value}")
    return template


def address_of(contact: Contact, channel: Channel) -> str | None:
    if channel is Channel.sms:
        return contact.mobile
    if channel is Channel.email:
        return contact.email
    if channel is Channel.wechat:
        return contact.wechat_openid
    return f"member:{contact.member_id}"  # webhook: the receiver knows its members by id


def mask_address(channel: Channel, address: str | None) -> str:
    if not address:
        return ""
    if channel is Channel.sms and address.startswith("+"):
        return mask_mobile(address)
    if channel is Channel.email and "@" in address:
        return mask_email(address)
    if channel is Channel.webhook:
        return address if address.startswith("member:") else mask_value(address)
    return mask_value(address)


def consented(session: Session, member_id: int, channel: Channel) -> bool:
    """Consent for the channel. The webhook channel has no consent of its own: a member who
    agreed to marketing on any channel may get it (it hands the message to the chain's systems)."""
    if channel is Channel.webhook:
        return any(c.granted for c in consents.consents_of(session, member_id))
    return consents.has_consent(session, member_id, ConsentChannel(channel.value))


def sent_this_week(session: Session, member_id: int, channel: Channel, now: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.member_id == member_id,
                Message.channel == channel.value,
                Message.purpose == Purpose.marketing.value,
                Message.status.in_(COUNTED),
                Message.created_at > now - CAP_WINDOW,
            )
        )
        or 0
    )


def decide(
    session: Session,
    member_id: int | None,
    channel: Channel,
    purpose: Purpose,
    address: str | None,
    now: datetime,
    needs_consent: bool = True,
    no_marketing: bool = False,
) -> Decision:
    """Whether a message goes now, waits for the quiet hours' end or is skipped, and why.
    `no_marketing`: the member's flag, which refuses every marketing message."""
    if channels.sending_config(session, channel) is None:
        return Decision(Status.skipped, Skip.channel_off)
    if no_marketing and purpose is Purpose.marketing:
        return Decision(Status.skipped, Skip.no_marketing)
    if not address:
        return Decision(Status.skipped, Skip.no_address)
    if needs_consent and (member_id is None or not consented(session, member_id, channel)):
        # Consent is a member's: marketing to a bare address has none to show.
        return Decision(Status.skipped, Skip.no_consent)
    if purpose is Purpose.transactional:
        return Decision(Status.queued)
    settings = get_settings()
    capped = member_id is not None and (
        sent_this_week(session, member_id, channel, now) >= settings.marketing_per_week
    )
    if capped:
        return Decision(Status.skipped, Skip.frequency_cap)
    until = quiet_until(settings.quiet_hours, now)
    if until is not None:
        return Decision(Status.deferred, send_after=until)
    return Decision(Status.queued)


def _existing(session: Session, dedupe_key: str) -> Message | None:
    return session.scalar(select(Message).where(Message.dedupe_key == dedupe_key))


def send(
    session: Session,
    *,
    channel: Channel,
    template_code: str,
    variables: Mapping[str, Any] | None = None,
    member_id: int | None = None,
    recipient: str | None = None,
    purpose: Purpose | None = None,
    source: str = "",
    dedupe_key: str | None = None,
    consent_required: bool | None = None,
) -> Message:
    """One message to a member (addressed per channel) or to a given address, written in the
    caller's transaction and delivered after its commit. A `dedupe_key` already used answers
    the message written then, unchanged. The purpose defaults to the template's; consent is
    required for marketing, and for a transactional message whose caller asks for it (the
    expiry notices go per consent, though not capped nor held for quiet hours)."""
    if member_id is None and not recipient:
        raise RecipientRequired()
    if dedupe_key and (found := _existing(session, dedupe_key)) is not None:
        return found
    now = clock.now()
    template = get_template(session, template_code, channel)
    purpose = purpose or Purpose(template.purpose)
    given = dict(variables or {})
    contact = contact_of(session, member_id) if member_id is not None else None
    if member_id is not None and contact is None:
        decision = Decision(Status.skipped, Skip.member_inactive)
        address = None
        values = given
    else:
        address = recipient or (address_of(contact, channel) if contact else None)
        values = ({"name": contact.name} if contact else {}) | given
        needs_consent = (
            purpose is Purpose.marketing if consent_required is None else consent_required
        )
        decision = decide(
            session,
            member_id,
            channel,
            purpose,
            address,
            now,
            needs_consent,
            no_marketing=bool(contact and contact.no_marketing),
        )
    subject = body = ""
    if decision.status is not Status.skipped:
        subject = rendering.render(template.subject, values) if template.subject else ""
        body = rendering.render(template.body, values)
        if channel is Channel.sms and purpose is Purpose.marketing:
            body = unsubscribe.with_sms_notice(body)
    row = {
        "member_id": member_id,
        "channel": channel.value,
        "template_code": template.code,
        "purpose": purpose.value,
        "recipient": address if decision.status is not Status.skipped else None,
        "recipient_masked": mask_address(channel, address),
        "subject": subject[:200],
        "body": body,
        # What the template was filled with (the member's name included): SMS providers fill
        # their own approved templates with these.
        "variables": _jsonable(values),
        "status": decision.status.value,
        "reason": decision.reason,
        "source": source[:64],
        "dedupe_key": dedupe_key,
        "send_after": decision.send_after or now,
        "attempts": 0,
        "provider_message_id": "",
        "error": "",
        "created_at": now,
    }
    if decision.status is Status.skipped:  # never sent: no secret to keep for a provider
        row["body"], row["variables"] = templates.redact(body, _jsonable(values), template.code)
    message, created = _insert(session, row)
    if created and message.status == Status.queued.value:
        enqueue(session, message.id)
    return message


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(k): v if isinstance(v, str | int | float | bool) or v is None else str(v)
        for k, v in values.items()
    }


def _insert(session: Session, row: dict[str, Any]) -> tuple[Message, bool]:
    """The message written, and whether this call wrote it (False: its dedupe key was taken)."""
    if row["dedupe_key"] is None:
        message = Message(**row)
        session.add(message)
        session.flush()
        return message, True
    statement = (
        insert_or_skip(session, MESSAGES)
        .values(row)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(MESSAGES.c.id)
    )
    new_id = session.scalar(statement)
    found = session.get(Message, new_id) if new_id is not None else None
    if found is not None:
        return found, True
    found = _existing(session, row["dedupe_key"])  # another transaction wrote this key first
    assert found is not None
    return found, False


def enqueue(session: Session, message_id: int) -> None:
    """Deliver the message once the caller's transaction has committed."""
    tasks.after_commit(session, lambda: tasks.deliver_message(message_id))


@dataclass
class Claim:
    """A message taken for one delivery attempt, with what the provider needs (loaded, usable
    after the claiming transaction has ended)."""

    message: Message
    template: MessageTemplate | None
    provider: Provider
    config: dict[str, str]


def claim(
    session: Session, message_id: int, now: datetime, handed: datetime | None = None
) -> Claim | None:
    """Take a due message for one attempt: the row is locked, its attempt counted and a lease
    set (send_after moves LEASE ahead), so that no other worker takes it meanwhile and a worker
    that dies mid-send leaves it for the minute job once the lease has run out. None when the
    message is not due (sent, failed, skipped, leased or deferred still) or is marketing due in
    the quiet hours (deferred to their end). A message the minute job handed out is due to the
    task holding its mark (`handed`, see `hand_out`) even though its send_after is ahead."""
    message = session.scalar(
        select(Message).where(Message.id == message_id).with_for_update(skip_locked=True)
    )
    if message is None or message.status not in (Status.queued.value, Status.deferred.value):
        return None
    if message.send_after > now and message.send_after != handed:
        return None
    if _held_for_quiet_hours(message, now):
        session.flush()
        return None
    sending = channels.sending_config(session, Channel(message.channel))
    if sending is None:
        message.status, message.reason = Status.skipped.value, Skip.channel_off.value
        message.recipient = None
        session.flush()
        return None
    provider, config = sending
    template = None
    if message.template_code != TEST_TEMPLATE:
        template = session.scalar(
            select(MessageTemplate).where(
                MessageTemplate.code == message.template_code,
                MessageTemplate.channel == message.channel,
            )
        )
    message.attempts += 1
    message.send_after = now + LEASE
    if message.send_after.microsecond == 0:  # a whole second is a hand-out mark's, never a lease
        message.send_after -= timedelta(microseconds=1)
    session.flush()
    return Claim(message, template, provider, config)


def _held_for_quiet_hours(message: Message, now: datetime) -> bool:
    """A marketing message due in the quiet hours (a retry, a lost task found late) waits for
    their end, deferred, as when it was written."""
    if message.purpose != Purpose.marketing.value:
        return False
    until = quiet_until(get_settings().quiet_hours, now)
    if until is None:
        return False
    message.status, message.send_after = Status.deferred.value, until
    return True


def call_provider(claimed: Claim) -> str | ProviderFailed:
    """The provider's id for the message, or why it failed. Outside any transaction: a slow
    provider holds no lock."""
    message = claimed.message
    try:
        return claimed.provider.send(message, claimed.template, claimed.config)[:100]
    except ProviderFailed as exc:
        logger.warning("message %s: %s", message.id, exc.detail)
        return exc
    except Exception as exc:  # a provider's bug or an unforeseen answer: try again later
        logger.exception("message %s: provider %s failed", message.id, claimed.provider.name)
        return ProviderFailed(f"{claimed.provider.name}: {type(exc).__name__}")


def record(
    session: Session, message_id: int, outcome: str | ProviderFailed, now: datetime
) -> Message | None:
    """Keep how the attempt went: sent, queued again with a backoff (1, 2, 4, 8 minutes), or
    failed once the provider refuses for good or the attempts are spent."""
    message = session.get(Message, message_id, with_for_update=True)
    if message is None or message.status not in (Status.queued.value, Status.deferred.value):
        return message
    if isinstance(outcome, ProviderFailed):
        message.error = outcome.detail
        if outcome.retry and message.attempts < MAX_ATTEMPTS:
            message.status = Status.queued.value
            message.send_after = now + RETRY_BASE * 2 ** (message.attempts - 1)
        else:
            message.status = Status.failed.value
    else:
        message.provider_message_id = outcome
        message.status, message.sent_at, message.error = Status.sent.value, now, ""
    if message.status in (Status.sent.value, Status.failed.value):
        # Delivered (or given up): a one-time code is nobody's to read any more.
        message.body, message.variables = templates.redact(
            message.body, dict(message.variables), message.template_code
        )
    session.flush()
    return message


def deliver(session: Session, message_id: int, now: datetime | None = None) -> Message | None:
    """Claim, send and record in the caller's transaction (a test send answers how it went);
    the queue's task does the same in three steps (`messages.tasks`)."""
    now = now or clock.now()
    claimed = claim(session, message_id, now)
    if claimed is None:
        return session.get(Message, message_id)
    return record(session, message_id, call_provider(claimed), now)


def hand_out(session: Session, now: datetime, limit: int) -> tuple[list[int], datetime]:
    """Up to `limit` due messages (oldest first) to hand to delivery tasks, and their mark:
    their send_after moved to the mark (a whole second, HAND_OUT ahead) in one statement, so
    that later runs do not hand them out again while they wait in the queue, and only a task
    given the mark may claim them before it (`claim`). A message whose task was lost is due
    again once the mark has passed."""
    mark = (now + HAND_OUT).replace(microsecond=0)
    due = (
        select(Message.id)
        .where(
            Message.status.in_((Status.queued.value, Status.deferred.value)),
            Message.send_after <= now,
        )
        .order_by(Message.send_after)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    handed = session.scalars(
        update(Message)
        .where(Message.id.in_(due.scalar_subquery()))
        .values(send_after=mark)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(handed), mark


def send_test(
    session: Session,
    channel: Channel,
    recipient: str,
    template_code: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Message:
    """A test message to `recipient` through the channel as set now, sent in this request."""
    if channel is Channel.sms:
        try:
            recipient = normalize_mobile(recipient)
        except ValueError as exc:
            raise InvalidInput("recipient", str(exc), code=Reason.not_a_mobile) from exc
    if template_code:
        message = send(
            session,
            channel=channel,
            template_code=template_code,
            variables=variables,
            recipient=recipient,
            purpose=Purpose.transactional,
            source="test",
        )
    else:
        now = clock.now()
        on = channels.sending_config(session, channel) is not None
        message = Message(
            channel=channel.value,
            template_code=TEST_TEMPLATE,
            purpose=Purpose.transactional.value,
            recipient=recipient if on else None,
            recipient_masked=mask_address(channel, recipient),
            subject="Patron test",
            body=TEST_BODY,
            variables={},
            status=Status.queued.value if on else Status.skipped.value,
            reason="" if on else Skip.channel_off.value,
            source="test",
            send_after=now,
            created_at=now,
        )
        session.add(message)
        session.flush()
    # Sent now, so the answer says how it went; the after-commit task then finds it done.
    return deliver(session, message.id) or message


@dataclass
class MessageFilter:
    member_id: int | None = None
    channel: Channel | None = None
    status: Status | None = None
    template_code: str | None = None


def list_messages(
    session: Session, filters: MessageFilter, cursor: str | None, limit: int
) -> PageResult[Message]:
    query = select(Message)
    if filters.member_id is not None:
        query = query.where(Message.member_id == filters.member_id)
    if filters.channel is not None:
        query = query.where(Message.channel == filters.channel.value)
    if filters.status is not None:
        query = query.where(Message.status == filters.status.value)
    if filters.template_code:
        query = query.where(Message.template_code == filters.template_code)
    return paginate(session, query, Message.id, cursor, limit)


def get_message(session: Session, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None:
        raise MessageNotFound()
    return message
