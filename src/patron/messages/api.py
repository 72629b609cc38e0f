from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, Header, Path, Query

from patron.core.actor import Actor
from patron.core.openapi import errors
from patron.core.pagination import Page
from patron.core.text import SingleLine, SingleLineOrNone
from patron.deps import OneHopRouter, SessionDep, require
from patron.members import registry
from patron.members.errors import MemberNotFound
from patron.messages import channels, inbound, permissions, service, templates
from patron.messages.errors import (
    InboundRefused,
    MessageChannelNotFound,
    MessageTemplateNotFound,
    MessageTemplateTaken,
    TemplateRenderFailed,
    UnknownProvider,
)
from patron.messages.kinds import PROVIDERS_BY_CHANNEL, Channel, Status
from patron.messages.schemas import (
    ChannelIn,
    ChannelOut,
    ChannelTest,
    InboundResult,
    MessageOut,
    MessageSend,
    TemplateIn,
    TemplateOut,
    TemplateUpdate,
    message_out,
)

router = OneHopRouter(tags=["messages"])
Viewer = Annotated[Actor, Depends(require(permissions.VIEW))]
Sender = Annotated[Actor, Depends(require(permissions.SEND))]
Editor = Annotated[Actor, Depends(require(permissions.EDIT_TEMPLATES))]
ChannelAdmin = Annotated[Actor, Depends(require(permissions.MANAGE_CHANNELS))]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/messages", response_model=Page[MessageOut])
def list_messages(
    session: SessionDep,
    actor: Viewer,
    member_id: int | None = None,
    channel: Channel | None = None,
    status: Status | None = None,
    template_code: Annotated[SingleLineOrNone, Query(max_length=64)] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[MessageOut]:
    """The delivery log, newest first: recipients masked; the body of transactional messages
    (one-time codes, receipts) left out."""
    filters = service.MessageFilter(member_id, channel, status, template_code)
    page = service.list_messages(session, filters, cursor, limit)
    return Page(items=[message_out(m) for m in page.items], next_cursor=page.next_cursor)


@router.post(
    "/messages",
    response_model=MessageOut,
    status_code=201,
    responses=errors(MemberNotFound, MessageTemplateNotFound, TemplateRenderFailed),
)
def send_message(data: MessageSend, session: SessionDep, actor: Sender) -> MessageOut:
    """One message to one member through a template, checked as any other: a marketing template
    needs the member's consent, respects the weekly cap and waits out quiet hours. The answer
    says what became of it (`status`, `reason`). A `dedupe_key` already used answers the
    message sent with it."""
    member = registry.get_member(session, actor, data.member_id)
    message = service.send(
        session,
        channel=data.channel,
        template_code=data.template_code,
        variables=data.variables,
        member_id=member.id,
        source=f"staff:{actor.id}" if actor.kind == "staff" else f"{actor.kind}:{actor.id}",
        dedupe_key=data.dedupe_key,
    )
    return message_out(message)


@router.post(
    "/messages/inbound/sms",
    response_model=InboundResult,
    responses=errors(InboundRefused),
)
def sms_inbound(
    session: SessionDep,
    payload: Annotated[Any, Body()] = None,
    token: Annotated[SingleLineOrNone, Query(max_length=200)] = None,
    x_patron_token: Annotated[SingleLineOrNone, Header(max_length=200)] = None,
) -> InboundResult:
    """The SMS provider's reply callback (上行短信). Authenticated by the SMS channel's
    `inbound_token` (query `token` or header `X-Patron-Token`). A reply T, TD or 退订 withdraws
    the member's SMS consent (source `sms_reply`)."""
    inbound.check_token(session, x_patron_token or token)
    return InboundResult(unsubscribed=inbound.handle_sms_replies(session, payload))


@router.get("/message-templates", response_model=Page[TemplateOut])
def list_templates(
    session: SessionDep,
    actor: Viewer,
    channel: Channel | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[TemplateOut]:
    page = templates.list_templates(session, channel, cursor, limit)
    return Page(
        items=[TemplateOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/message-templates",
    response_model=TemplateOut,
    status_code=201,
    responses=errors(MessageTemplateTaken, TemplateRenderFailed),
)
def create_template(data: TemplateIn, session: SessionDep, actor: Editor) -> TemplateOut:
    return TemplateOut.model_validate(templates.create_template(session, actor, data))


@router.get(
    "/message-templates/{template_id}",
    response_model=TemplateOut,
    responses=errors(MessageTemplateNotFound),
)
def get_template(template_id: int, session: SessionDep, actor: Viewer) -> TemplateOut:
    return TemplateOut.model_validate(templates.get_template(session, template_id))


@router.patch(
    "/message-templates/{template_id}",
    response_model=TemplateOut,
    responses=errors(MessageTemplateNotFound, TemplateRenderFailed),
)
def update_template(
    template_id: int, data: TemplateUpdate, session: SessionDep, actor: Editor
) -> TemplateOut:
    return TemplateOut.model_validate(templates.update_template(session, actor, template_id, data))


@router.delete(
    "/message-templates/{template_id}",
    status_code=204,
    responses=errors(MessageTemplateNotFound),
)
def delete_template(template_id: int, session: SessionDep, actor: Editor) -> None:
    templates.delete_template(session, actor, template_id)


def channel_out(view: channels.ChannelView) -> ChannelOut:
    return ChannelOut(
        channel=view.channel,
        provider=view.provider,
        enabled=view.enabled,
        configured=view.configured,
        providers=list(PROVIDERS_BY_CHANNEL[view.channel]),
        config=view.config,
        secret_fields=list(view.secrets),
    )


def channel_named(name: str) -> Channel:
    if name not in Channel.__members__:
        raise MessageChannelNotFound()
    return Channel(name)


ChannelName = Annotated[SingleLine, Path(max_length=16, description="sms, email, wechat, webhook")]


@router.get(
    "/message-channels/{channel}",
    response_model=ChannelOut,
    responses=errors(MessageChannelNotFound),
)
def get_channel(channel: ChannelName, session: SessionDep, actor: ChannelAdmin) -> ChannelOut:
    """The channel's provider and keys: secret keys are never returned, only masked."""
    return channel_out(channels.view(session, channel_named(channel)))


@router.put(
    "/message-channels/{channel}",
    response_model=ChannelOut,
    responses=errors(MessageChannelNotFound, UnknownProvider),
)
def put_channel(
    channel: ChannelName, data: ChannelIn, session: SessionDep, actor: ChannelAdmin
) -> ChannelOut:
    """Set the provider and its keys (stored encrypted). A secret key left out or blank keeps
    the one stored, so a client never needs it back."""
    view = channels.put(
        session, actor, channel_named(channel), data.provider, data.enabled, data.config
    )
    return channel_out(view)


@router.post(
    "/message-channels/{channel}/test",
    response_model=MessageOut,
    responses=errors(MessageChannelNotFound, MessageTemplateNotFound, TemplateRenderFailed),
)
def test_channel(
    channel: ChannelName, data: ChannelTest, session: SessionDep, actor: ChannelAdmin
) -> MessageOut:
    """Send a test message to the given address now, through the channel as it is set; the
    answer says whether the provider took it (`status`, `error`). Without a template, a fixed
    test text (SMS providers that send by approved template need one)."""
    message = service.send_test(
        session, channel_named(channel), data.recipient, data.template_code, data.variables
    )
    return message_out(message)
