"""The messages domain's errors: each a problem document with a stable `code`."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound, PatronError, Unauthenticated


class MessageTemplateNotFound(NotFound):
    code = "message_template_not_found"
    title = "Message template not found"


class MessageNotFound(NotFound):
    code = "message_not_found"
    title = "Message not found"


class MessageChannelNotFound(NotFound):
    code = "message_channel_not_found"
    title = "No such message channel: sms, email, wechat or webhook"


class MessageTemplateTaken(Conflict):
    code = "message_template_taken"
    title = "A template with this code already exists for this channel"


class TemplateRenderFailed(PatronError):
    """The template names a variable the caller did not give, or breaks the sandbox's rules
    (attribute access to internals, bad syntax)."""

    status = 422
    code = "template_render_failed"
    title = "The message template could not be rendered with these variables"


class UnknownProvider(PatronError):
    status = 422
    code = "unknown_message_provider"
    title = "This channel has no such provider"


class ChannelNotConfigured(Conflict):
    code = "channel_not_configured"
    title = "The channel has no provider set up, or is switched off"


class RecipientRequired(PatronError):
    status = 422
    code = "message_recipient_required"
    title = "A message goes to a member or to a given address"


class InboundRefused(Unauthenticated):
    code = "inbound_token_invalid"
    title = "The provider callback's token is missing or wrong"


class UnsubscribeLinkInvalid(NotFound):
    code = "unsubscribe_link_invalid"
    title = "This unsubscribe link is not valid"


class ProviderFailed(Exception):
    """A provider refused or could not take a message: `detail` is kept on the message row (no
    secrets), `retry` says whether trying again later may help."""

    def __init__(self, detail: str, retry: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail[:500]
        self.retry = retry
