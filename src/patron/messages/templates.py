"""Message templates: their CRUD, and the defaults the notices need (created when missing)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.db import unique_or
from patron.core.errors import InvalidInput
from patron.core.pagination import PageResult, paginate
from patron.core.reasons import Reason
from patron.messages import rendering
from patron.messages.errors import MessageTemplateNotFound, MessageTemplateTaken
from patron.messages.kinds import Channel, Purpose
from patron.messages.models import MessageTemplate
from patron.messages.schemas import TemplateIn, TemplateUpdate

TEMPLATE_UNIQUE = "uq_message_templates_code_channel"
POINTS_EXPIRING = "points_expiring"
COUPON_EXPIRING = "coupon_expiring"
# The member page's and member API's one-time sign-in code (transactional, to any mobile).
MEMBER_SIGN_IN_CODE = "member_sign_in_code"
# Variables that are secrets: once the message is sent (or failed, or skipped), they are
# replaced in its stored body and variables, so that staff never read a live sign-in code.
SECRET_VARIABLES: dict[str, tuple[str, ...]] = {MEMBER_SIGN_IN_CODE: ("code",)}
REDACTED = "******"
# (code, channel, name, body): WeChat bodies name the subscribe template's fields, one a line.
DEFAULTS: tuple[tuple[str, Channel, str, str], ...] = (
    (
        POINTS_EXPIRING,
        Channel.sms,
        "积分到期提醒",
        "{{ name }}，您有{{ points }}积分将于{{ date }}到期，请尽快使用。回T退订",
    ),
    (
        POINTS_EXPIRING,
        Channel.wechat,
        "积分到期提醒",
        "thing1: 积分即将到期\nnumber2: {{ points }}\ndate3: {{ date }}",
    ),
    (
        COUPON_EXPIRING,
        Channel.sms,
        "优惠券到期提醒",
        "{{ name }}，您的{{ coupon }}将于{{ date }}到期，请尽快使用。回T退订",
    ),
    (
        COUPON_EXPIRING,
        Channel.wechat,
        "优惠券到期提醒",
        "thing1: {{ coupon }}\ndate2: {{ date }}",
    ),
    (
        MEMBER_SIGN_IN_CODE,
        Channel.sms,
        "会员登录验证码",
        "您的会员登录验证码为{{ code }}，{{ minutes }}分钟内有效。如非本人操作，请忽略。",
    ),
)


def ensure_defaults(session: Session) -> int:
    """Create the notices' default templates that are missing (transactional, no provider
    template code: set one before an Alibaba or Tencent provider can send them)."""
    rows = session.execute(select(MessageTemplate.code, MessageTemplate.channel))
    have = {(code, channel) for code, channel in rows}
    created = 0
    for code, channel, name, body in DEFAULTS:
        if (code, channel.value) not in have:
            session.add(
                MessageTemplate(
                    code=code,
                    channel=channel.value,
                    purpose=Purpose.transactional.value,
                    name=name,
                    body=body,
                )
            )
            created += 1
    session.flush()
    return created


def redact(body: str, variables: dict[str, Any], template_code: str) -> tuple[str, dict[str, Any]]:
    """The body and variables with the template's secret variables replaced (see
    SECRET_VARIABLES); unchanged for any other template."""
    names = SECRET_VARIABLES.get(template_code)
    if not names:
        return body, variables
    for name in names:
        value = str(variables.get(name) or "")
        if value:
            body = body.replace(value, REDACTED)
    return body, {k: REDACTED if k in names else v for k, v in variables.items()}


def list_templates(
    session: Session, channel: Channel | None, cursor: str | None, limit: int
) -> PageResult[MessageTemplate]:
    query = select(MessageTemplate)
    if channel is not None:
        query = query.where(MessageTemplate.channel == channel.value)
    return paginate(session, query, MessageTemplate.id, cursor, limit)


def get_template(session: Session, template_id: int) -> MessageTemplate:
    template = session.get(MessageTemplate, template_id)
    if template is None:
        raise MessageTemplateNotFound()
    return template


def create_template(session: Session, actor: Actor, data: TemplateIn) -> MessageTemplate:
    rendering.check(data.body)
    rendering.check(data.subject)
    template = MessageTemplate(**data.model_dump(mode="json"))
    with unique_or(session, {TEMPLATE_UNIQUE: MessageTemplateTaken()}):
        session.add(template)
    audit.record(
        session,
        actor,
        "message_template.create",
        "message_template",
        template.id,
        after={"code": template.code, "channel": template.channel},
    )
    return template


def update_template(
    session: Session, actor: Actor, template_id: int, data: TemplateUpdate
) -> MessageTemplate:
    template = get_template(session, template_id)
    changes = data.model_dump(mode="json", exclude_unset=True)
    for field, value in changes.items():
        if value is None:
            raise InvalidInput(field, "cannot be null", code=Reason.missing)
    if "body" in changes:
        rendering.check(changes["body"])
    if "subject" in changes:
        rendering.check(changes["subject"])
    before = {k: getattr(template, k) for k in changes}
    for key, value in changes.items():
        setattr(template, key, value)
    session.flush()
    audit.record(
        session,
        actor,
        "message_template.update",
        "message_template",
        template.id,
        before=before,
        after=changes,
    )
    return template


def delete_template(session: Session, actor: Actor, template_id: int) -> MessageTemplate:
    template = get_template(session, template_id)
    session.delete(template)
    session.flush()
    audit.record(
        session,
        actor,
        "message_template.delete",
        "message_template",
        template_id,
        before={"code": template.code, "channel": template.channel},
    )
    return template
