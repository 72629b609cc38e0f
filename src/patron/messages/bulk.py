"""Marketing messages for many members at once (a campaign's batch), decided by the rules `send`
applies one by one: the channel on, the member's no-marketing flag, an address, consent for the
channel, the weekly cap per member and channel, the quiet hours (deferred, not dropped). Set-based:
the contacts, consents and the week's counts are read with one query each, the rows written with
one COPY, and their delivery queued as one task after the commit.

`reach` counts the same decision over any set of members without writing (a preview)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.orm import Session

from patron.core import bulk, clock, crypto
from patron.core.settings import get_settings
from patron.members import consents, contacts
from patron.members.contacts import Contact
from patron.members.models import ConsentChannel
from patron.messages import channels, rendering, tasks, unsubscribe
from patron.messages.errors import TemplateRenderFailed
from patron.messages.kinds import COUNTED, Channel, Purpose, Skip, Status
from patron.messages.models import Message, MessageTemplate
from patron.messages.policy import quiet_until
from patron.messages.service import CAP_WINDOW, MESSAGES, address_of, get_template, mask_address

# The variable a campaign's template may name: the member's own (the rest has no giver).
MEMBER_VARIABLES = frozenset({"name"})
ADDRESS_FIELD = {
    Channel.sms: "mobile",
    Channel.email: "email",
    Channel.wechat: "wechat_openid",
}
# Each message's own columns, then those every message of a call shares.
OWN = (
    "id",
    "member_id",
    "recipient",
    "recipient_masked",
    "subject",
    "body",
    "variables",
    "status",
    "reason",
    "send_after",
)
SHARED = (
    "channel",
    "template_code",
    "purpose",
    "source",
    "attempts",
    "provider_message_id",
    "error",
    "created_at",
)


def campaign_template(session: Session, code: str, channel: Channel) -> MessageTemplate:
    """The active template, refused (TemplateRenderFailed) when it names a variable other than
    the member's own: nobody would give it one. MessageTemplateNotFound when there is none."""
    template = get_template(session, code, channel)
    named = set(rendering.variable_names(template.subject + template.body))
    if not named <= MEMBER_VARIABLES:
        extra = ", ".join(sorted(named - MEMBER_VARIABLES))
        raise TemplateRenderFailed(f"template {code!r} needs variables no campaign gives: {extra}")
    return template


def _consent_channels(channel: Channel) -> list[str]:
    """Webhook has no consent of its own: any channel's consent admits it (as `consented`)."""
    if channel is Channel.webhook:
        return [c.value for c in ConsentChannel]
    return [channel.value]


def _week_counts(
    session: Session, member_ids: Sequence[int], channel: Channel, now: datetime
) -> Counter[int]:
    rows = session.execute(
        select(Message.member_id, func.count())
        .where(
            bulk.any_of(session, Message.member_id, list(member_ids)),
            Message.channel == channel.value,
            Message.purpose == Purpose.marketing.value,
            Message.status.in_(COUNTED),
            Message.created_at > now - CAP_WINDOW,
        )
        .group_by(Message.member_id)
    )
    return Counter({member_id: count for member_id, count in rows if member_id is not None})


class _Bodies:
    """The template rendered for each member's name, each name once."""

    def __init__(self, template: MessageTemplate, channel: Channel) -> None:
        self.sms = channel is Channel.sms
        self.subject = self._renderer(template.subject) if template.subject else None
        self.body = self._renderer(template.body)
        self._done: dict[str, tuple[str, str]] = {}

    @staticmethod
    def _renderer(source: str) -> Callable[[Mapping[str, Any]], str]:
        return rendering.plain(source) or (lambda values: rendering.render(source, values))

    def of(self, name: str) -> tuple[str, str]:
        found = self._done.get(name)
        if found is None:
            values = {"name": name}
            subject = self.subject(values)[:200] if self.subject else ""
            body = self.body(values)
            if self.sms:
                body = unsubscribe.with_sms_notice(body)
            found = self._done[name] = (subject, body)
        return found


def contact_fields(channel: Channel) -> set[str]:
    """What `send_many` reads of each member's contact for a message on `channel`."""
    address_field = ADDRESS_FIELD.get(channel)
    return {"name"} | ({address_field} if address_field else set())


def send_many(
    session: Session,
    *,
    channel: Channel,
    template_code: str,
    member_ids: Sequence[int],
    source: str,
    known: Mapping[int, Contact] | None = None,
) -> dict[int, str]:
    """A marketing message of the template to each member (named once each), written in the
    caller's transaction; delivery of the queued ones is handed to the queue after the commit.
    Returns each member's outcome: `queued`, `deferred` or the skip reason (`Skip`).

    `known`: the members' contacts as the caller has just read them (`contacts.contacts_of`
    with at least `contact_fields(channel)`; a member absent is not active), else read here."""
    if not member_ids:
        return {}
    now = clock.now()
    template = campaign_template(session, template_code, channel)
    on = channels.sending_config(session, channel) is not None
    if known is None:
        found = contacts.contacts_of(session, member_ids, contact_fields(channel))
    else:
        found = {m: known[m] for m in member_ids if m in known}
    consented = consents.consented_among(session, list(found), _consent_channels(channel))
    sent = _week_counts(session, list(found), channel, now)
    settings = get_settings()
    cap, until = settings.marketing_per_week, quiet_until(settings.quiet_hours, now)
    bodies = _Bodies(template, channel)
    ids = bulk.reserve_ids(session, MESSAGES, len(member_ids))
    outcomes: dict[int, str] = {}
    queued: list[int] = []
    rows: list[tuple[Any, ...]] = []
    for message_id, member_id in zip(ids, member_ids, strict=True):
        contact = found.get(member_id)
        address = address_of(contact, channel) if contact else None
        outcome = _decide(contact, address, on, member_id in consented, sent, cap, until)
        outcomes[member_id] = outcome
        status = Status(outcome) if outcome in Status.__members__ else Status.skipped
        subject = body = ""
        if status is not Status.skipped:
            subject, body = bodies.of(contact.name if contact else "")
        if status is Status.queued:
            queued.append(message_id)
        rows.append(
            (
                message_id,
                member_id,
                address if status is not Status.skipped else None,
                mask_address(channel, address),
                subject,
                body,
                {"name": contact.name} if contact else {},
                status.value,
                "" if status is not Status.skipped else outcome,
                until if status is Status.deferred else now,
            )
        )
    shared = (channel.value, template.code, Purpose.marketing.value, source[:64], 0, "", "", now)
    _write(session, rows, shared)
    if queued:
        tasks.after_commit(session, lambda: tasks.deliver_messages(queued))
    return outcomes


def _write(session: Session, rows: list[tuple[Any, ...]], shared: tuple[Any, ...]) -> None:
    """The rows (OWN columns) into `messages`, each with the SHARED values: on PostgreSQL one
    COPY in text form built here (psycopg's row writer and the columns' bind processors cost
    more client CPU than the rest of a message; the shared values are written once), the
    recipients encrypted as the column would; else as `bulk.copy_rows`."""
    if session.get_bind().dialect.name != "postgresql":
        bulk.copy_rows(session, MESSAGES, OWN + SHARED, (row + shared for row in rows))
        return
    session.flush()
    recipients = crypto.cipher().encrypt_many([row[2] for row in rows])
    tail = "\t" + "\t".join(map(_copy_text, shared)) + "\n"
    text = _copy_text
    lines = [
        f"{row[0]}\t{row[1]}\t{recipient or NULL}\t{text(row[3])}\t{text(row[4])}\t"
        f"{text(row[5])}\t{text(row[6])}\t{row[7]}\t{row[8]}\t{text(row[9])}{tail}"
        for row, recipient in zip(rows, recipients, strict=True)
    ]
    driver: Any = session.connection().connection.driver_connection
    columns = ", ".join(f'"{name}"' for name in OWN + SHARED)
    with driver.cursor() as cursor, cursor.copy(f"COPY messages ({columns}) FROM STDIN") as copy:
        copy.write("".join(lines))


NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return NULL
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False).translate(_COPY_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _decide(
    contact: Contact | None,
    address: str | None,
    on: bool,
    consented: bool,
    sent: Counter[int],
    cap: int,
    until: datetime | None,
) -> str:
    """`service.decide` for a marketing message, from what was read for the whole batch."""
    if contact is None:
        return Skip.member_inactive.value
    if not on:
        return Skip.channel_off.value
    if contact.no_marketing:
        return Skip.no_marketing.value
    if not address:
        return Skip.no_address.value
    if not consented:
        return Skip.no_consent.value
    if sent[contact.member_id] >= cap:
        return Skip.frequency_cap.value
    return Status.deferred.value if until is not None else Status.queued.value


def reach(session: Session, members: Select[Any], channel: Channel, now: datetime) -> Counter[str]:
    """How `send_many` would decide for the (active) members `members` selects (one column of
    member ids), counted by outcome in one query, nothing written: `queued` or `deferred` for
    those it would reach."""
    listed = members.subquery()
    member_id = listed.c[0]
    if channels.sending_config(session, channel) is None:
        total = session.scalar(select(func.count()).select_from(listed)) or 0
        return Counter({Skip.channel_off.value: total} if total else {})
    address_field = ADDRESS_FIELD.get(channel)
    week = (
        select(func.count())
        .where(
            Message.member_id == member_id,
            Message.channel == channel.value,
            Message.purpose == Purpose.marketing.value,
            Message.status.in_(COUNTED),
            Message.created_at > now - CAP_WINDOW,
        )
        .correlate(listed)
        .scalar_subquery()
    )
    granted = consents.granted_on(_consent_channels(channel))
    reached = Status.deferred if quiet_until(get_settings().quiet_hours, now) else Status.queued
    whens: list[tuple[Any, Any]] = [
        (contacts.refuses_marketing(member_id), literal(Skip.no_marketing.value))
    ]
    if address_field is not None:
        whens.append(
            (~contacts.has_address(member_id, address_field), literal(Skip.no_address.value))
        )
    whens += [
        (member_id.not_in(granted), literal(Skip.no_consent.value)),
        (week >= get_settings().marketing_per_week, literal(Skip.frequency_cap.value)),
    ]
    outcome = case(*whens, else_=literal(reached.value)).label("outcome")
    rows = session.execute(select(outcome, func.count()).select_from(listed).group_by(outcome))
    return Counter({str(name): int(count) for name, count in rows})
