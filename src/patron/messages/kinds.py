"""The words of the messages domain: channels, purposes, statuses and skip reasons."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    sms = "sms"
    email = "email"
    wechat = "wechat"
    webhook = "webhook"


class Purpose(StrEnum):
    # Needs consent, respects quiet hours and the weekly cap.
    marketing = "marketing"
    # One-time codes, receipts, service notices: none of those checks.
    transactional = "transactional"


class Status(StrEnum):
    queued = "queued"  # due now (or at send_after after a failed attempt)
    deferred = "deferred"  # quiet hours: sent at send_after
    sent = "sent"
    failed = "failed"  # the provider refused it, attempts exhausted
    skipped = "skipped"  # never sent: `reason` says why


class Skip(StrEnum):
    no_consent = "no_consent"
    no_marketing = "no_marketing"  # the member's own flag: no marketing at all
    frequency_cap = "frequency_cap"
    no_address = "no_address"
    member_inactive = "member_inactive"
    channel_off = "channel_off"


# What counts toward the weekly cap: messages that went or will go.
COUNTED = (Status.sent.value, Status.queued.value, Status.deferred.value)
PROVIDERS_BY_CHANNEL: dict[Channel, tuple[str, ...]] = {
    Channel.sms: ("log", "aliyun", "tencent"),
    Channel.email: ("log", "smtp"),
    Channel.wechat: ("log", "wechat"),
    Channel.webhook: ("log", "webhook"),
}
