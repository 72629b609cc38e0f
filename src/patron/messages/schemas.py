from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from patron.core.ids import RowId
from patron.core.inputs import NOT_NULL, Input
from patron.core.text import (
    KEYS_CHECKED,
    MULTI_LINE_PATTERN,
    Label,
    LabelOrNone,
    MultiLine,
    Pattern,
    SingleLine,
    SingleLineOrNone,
    multi_line,
)
from patron.messages.kinds import Channel, Purpose, Status

MultiLineOrNone = Annotated[str | None, BeforeValidator(multi_line), Pattern(MULTI_LINE_PATTERN)]
# What a template is filled with: short texts and numbers under single-line names.
Variables = Annotated[dict[SingleLine, SingleLine | int | float | bool], KEYS_CHECKED]
# A channel's keys: write-only; the secrets among them are stored encrypted and shown masked.
Config = Annotated[dict[SingleLine, SingleLine], KEYS_CHECKED]


class TemplateIn(Input):
    code: SingleLine = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")
    channel: Channel
    purpose: Purpose
    name: Label = Field(default="", max_length=100)
    subject: SingleLine = Field(default="", max_length=200)
    body: MultiLine = Field(min_length=1, max_length=4000)
    provider_template: SingleLine = Field(default="", max_length=64)
    sign_name: Label = Field(default="", max_length=64)
    active: bool = True


class TemplateUpdate(Input):
    purpose: Annotated[Purpose | None, NOT_NULL] = None
    name: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, max_length=100)
    subject: Annotated[SingleLineOrNone, NOT_NULL] = Field(default=None, max_length=200)
    body: Annotated[MultiLineOrNone, NOT_NULL] = Field(default=None, min_length=1, max_length=4000)
    provider_template: Annotated[SingleLineOrNone, NOT_NULL] = Field(default=None, max_length=64)
    sign_name: Annotated[LabelOrNone, NOT_NULL] = Field(default=None, max_length=64)
    active: Annotated[bool | None, NOT_NULL] = None


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    channel: Channel
    purpose: Purpose
    name: str
    subject: str
    body: str
    provider_template: str
    sign_name: str
    active: bool
    created_at: datetime
    updated_at: datetime


class MessageOut(BaseModel):
    """A message as the log shows it: the recipient masked; the body of transactional messages
    (one-time codes, receipts) left out."""

    id: int
    member_id: int | None
    channel: Channel
    template_code: str
    purpose: Purpose
    recipient: str
    subject: str
    body: str | None
    status: Status
    reason: str
    source: str
    attempts: int
    error: str
    send_after: datetime
    created_at: datetime
    sent_at: datetime | None


class MessageSend(Input):
    member_id: RowId
    channel: Channel
    template_code: SingleLine = Field(min_length=1, max_length=64)
    variables: Variables = Field(default_factory=dict, max_length=50)
    dedupe_key: SingleLineOrNone = Field(default=None, min_length=1, max_length=128)


class ChannelOut(BaseModel):
    channel: Channel
    provider: str
    enabled: bool
    configured: bool
    providers: list[str]
    config: dict[str, str]
    secret_fields: list[str]


class ChannelIn(Input):
    provider: SingleLine = Field(min_length=1, max_length=32)
    enabled: bool = True
    config: Config = Field(default_factory=dict, max_length=20)


class ChannelTest(Input):
    recipient: SingleLine = Field(min_length=1, max_length=200)
    template_code: SingleLineOrNone = Field(default=None, max_length=64)
    variables: Variables = Field(default_factory=dict, max_length=50)


class InboundResult(BaseModel):
    code: int = 0
    msg: str = "ok"
    unsubscribed: int = 0


def message_out(message: Any) -> MessageOut:
    return MessageOut(
        id=message.id,
        member_id=message.member_id,
        channel=message.channel,
        template_code=message.template_code,
        purpose=message.purpose,
        recipient=message.recipient_masked,
        subject=message.subject,
        body=message.body if message.purpose == Purpose.marketing.value else None,
        status=message.status,
        reason=message.reason,
        source=message.source,
        attempts=message.attempts,
        error=message.error,
        send_after=message.send_after,
        created_at=message.created_at,
        sent_at=message.sent_at,
    )
