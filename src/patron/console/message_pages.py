"""Messages (消息): the delivery log with filters, the channels' providers and keys (secrets
write-only, shown masked) with a test send, and the templates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.console.forms import NO_ERRORS, FormErrors, form_errors, parse_enum, parse_id
from patron.console.web import (
    PREFIX,
    CheckedForm,
    ConsoleActorDep,
    ErrorPage,
    Tx,
    attempt,
    error_page_on,
    first_page_url,
    next_page_url,
    redirect,
    render,
    require_console,
    t_for,
    text,
)
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.messages import channels, service, templates
from patron.messages import permissions as message_policy
from patron.messages.kinds import PROVIDERS_BY_CHANNEL, Channel, Purpose, Status
from patron.messages.models import Message, MessageTemplate
from patron.messages.schemas import TemplateIn, TemplateUpdate

router = APIRouter(prefix="/messages")
PAGE_SIZE = 30
LOG_URL = f"{PREFIX}/messages"
TEMPLATES_URL = f"{PREFIX}/messages/templates"
TEMPLATE_FIELDS = ("name", "subject", "body", "provider_template", "sign_name")


@router.get("")
def message_log(
    request: Request,
    session: Tx,
    actor: ConsoleActorDep,
    channel: str = "",
    status: str = "",
    member_id: str = "",
    template_code: str = "",
    cursor: str = "",
) -> HTMLResponse:
    require_console(actor, message_policy.VIEW)
    filters = service.MessageFilter(
        member_id=parse_id(member_id),
        channel=parse_enum(Channel, channel),
        status=parse_enum(Status, status),
        template_code=template_code.strip()[:64] or None,
    )
    with error_page_on(InvalidInput):
        page = service.list_messages(session, filters, cursor or None, PAGE_SIZE)
    return render(
        request,
        "messages/log.html",
        messages=page.items,
        shows_body=_shows_body,
        filters={
            "channel": channel,
            "status": status,
            "member_id": member_id,
            "template_code": template_code,
        },
        channels=list(Channel),
        statuses=list(Status),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


def _shows_body(message: Message) -> bool:
    """Transactional bodies (one-time codes, receipts) stay out of the log, as in the API."""
    return message.purpose == Purpose.marketing.value or message.source == "test"


@router.get("/channels")
def channel_list(request: Request, session: Tx, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, message_policy.MANAGE_CHANNELS)
    views = [channels.view(session, channel) for channel in Channel]
    return render(request, "messages/channels.html", views=views)


def _channel(name: str) -> Channel:
    found = parse_enum(Channel, name)
    if found is None:
        raise ErrorPage(404)
    return found


@router.get("/channels/{channel_name}")
def channel_edit(
    request: Request, channel_name: str, session: Tx, actor: ConsoleActorDep, provider: str = ""
) -> HTMLResponse:
    require_console(actor, message_policy.MANAGE_CHANNELS)
    channel = _channel(channel_name)
    view = channels.view(session, channel)
    chosen = provider if provider in PROVIDERS_BY_CHANNEL[channel] else view.provider
    values: dict[str, Any] = dict(view.config) if chosen == view.provider else {}
    values |= {"provider": chosen, "enabled": view.enabled or not view.configured}
    return _channel_page(request, session, channel, values, NO_ERRORS, {}, NO_ERRORS)


@router.post("/channels/{channel_name}")
def channel_save(
    request: Request, channel_name: str, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, message_policy.MANAGE_CHANNELS)
    channel = _channel(channel_name)
    provider = text(form, "provider")
    enabled = form.get("enabled") == "on"
    fields = channels.registry().get(provider)
    config = {f.name: text(form, f"config.{f.name}") for f in fields.fields} if fields else {}
    try:
        with attempt(session):
            channels.put(session, actor, channel, provider, enabled, config)
    except PatronError as error:
        shown = {k: v for k, v in config.items() if k not in _secrets(provider)}
        values = shown | {"provider": provider, "enabled": enabled}
        errors = form_errors(error, t_for(request))
        return _channel_page(request, session, channel, values, errors, {}, NO_ERRORS)
    return redirect(f"{PREFIX}/messages/channels/{channel.value}", "flash.channel_saved")


@router.post("/channels/{channel_name}/test")
def channel_test(
    request: Request, channel_name: str, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, message_policy.MANAGE_CHANNELS)
    channel = _channel(channel_name)
    recipient = text(form, "recipient")[:200]
    code = text(form, "template_code")[:64] or None
    test_values = {"recipient": recipient, "template_code": code or ""}
    view = channels.view(session, channel)
    values: dict[str, Any] = dict(view.config) | {
        "provider": view.provider,
        "enabled": view.enabled,
    }
    if not recipient:
        t = t_for(request)
        errors = FormErrors(message=t("error.form"), fields={"recipient": t("invalid.missing")})
        return _channel_page(request, session, channel, values, NO_ERRORS, test_values, errors)
    try:
        with attempt(session):
            message = service.send_test(session, channel, recipient, code)
    except PatronError as error:
        errors = form_errors(error, t_for(request))
        return _channel_page(request, session, channel, values, NO_ERRORS, test_values, errors)
    flash = "flash.test_sent" if message.status == Status.sent.value else "flash.test_failed"
    return redirect(
        f"{LOG_URL}?channel={channel.value}", flash, name=message.error or message.reason
    )


def _secrets(provider: str) -> set[str]:
    found = channels.registry().get(provider)
    return {f.name for f in found.fields if f.secret} if found else set()


def _channel_page(
    request: Request,
    session: Session,
    channel: Channel,
    values: Mapping[str, Any],
    errors: FormErrors,
    test_values: Mapping[str, Any],
    test_errors: FormErrors,
) -> HTMLResponse:
    provider = channels.registry().get(str(values.get("provider", "")))
    page = templates.list_templates(session, channel, None, 200)
    return render(
        request,
        "messages/channel.html",
        status=max(errors.status, test_errors.status),
        channel=channel,
        providers=PROVIDERS_BY_CHANNEL[channel],
        fields=provider.fields if provider else (),
        values=values,
        errors=errors,
        test_values=test_values,
        test_errors=test_errors,
        channel_templates=page.items,
    )


@router.get("/templates")
def template_list(
    request: Request, session: Tx, actor: ConsoleActorDep, channel: str = "", cursor: str = ""
) -> HTMLResponse:
    require_console(actor, message_policy.VIEW)
    with error_page_on(InvalidInput):
        page = templates.list_templates(
            session, parse_enum(Channel, channel), cursor or None, PAGE_SIZE
        )
    return render(
        request,
        "messages/templates.html",
        templates=page.items,
        filters={"channel": channel},
        channels=list(Channel),
        next_url=next_page_url(request, page.next_cursor),
        first_url=first_page_url(request),
    )


@router.get("/templates/new")
def template_new(request: Request, actor: ConsoleActorDep) -> HTMLResponse:
    require_console(actor, message_policy.EDIT_TEMPLATES)
    values = {"channel": Channel.sms.value, "purpose": Purpose.marketing.value, "active": True}
    return _template_form(request, None, values, NO_ERRORS)


@router.post("/templates/new")
def template_create(
    request: Request, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, message_policy.EDIT_TEMPLATES)
    values: dict[str, Any] = {
        name: text(form, name, strip=name != "body")
        for name in ("code", "channel", "purpose", *TEMPLATE_FIELDS)
    }
    values["active"] = form.get("active") == "on"
    try:
        data = TemplateIn.model_validate(values)
        with attempt(session):
            template = templates.create_template(session, actor, data)
    except (ValidationError, PatronError) as error:
        return _template_form(request, None, values, form_errors(error, t_for(request)))
    return redirect(TEMPLATES_URL, "flash.message_template_created", name=template.code)


@router.get("/templates/{template_id:int}/edit")
def template_edit(
    request: Request, template_id: int, session: Tx, actor: ConsoleActorDep
) -> HTMLResponse:
    require_console(actor, message_policy.EDIT_TEMPLATES)
    template = _get_template(session, template_id)
    values = {name: getattr(template, name) for name in ("purpose", "active", *TEMPLATE_FIELDS)}
    return _template_form(request, template, values, NO_ERRORS)


@router.post("/templates/{template_id:int}/edit")
def template_update(
    request: Request, template_id: int, session: Tx, actor: ConsoleActorDep, form: CheckedForm
) -> Response:
    require_console(actor, message_policy.EDIT_TEMPLATES)
    template = _get_template(session, template_id)
    values: dict[str, Any] = {
        name: text(form, name, strip=name != "body") for name in ("purpose", *TEMPLATE_FIELDS)
    }
    values["active"] = form.get("active") == "on"
    try:
        data = TemplateUpdate.model_validate(values)
        with attempt(session):
            templates.update_template(session, actor, template.id, data)
    except (ValidationError, PatronError) as error:
        return _template_form(request, template, values, form_errors(error, t_for(request)))
    return redirect(TEMPLATES_URL, "flash.message_template_updated", name=template.code)


def _get_template(session: Session, template_id: int) -> MessageTemplate:
    with error_page_on(NotFound):
        template = templates.get_template(session, template_id)
    return template


def _template_form(
    request: Request,
    template: MessageTemplate | None,
    values: Mapping[str, Any],
    errors: FormErrors,
) -> HTMLResponse:
    return render(
        request,
        "messages/template_form.html",
        status=errors.status,
        message_template=template,
        values=values,
        errors=errors,
        channels=list(Channel),
        purposes=list(Purpose),
    )
