"""Channel settings: which provider a channel sends with, and that provider's keys (stored
encrypted; secret keys are write-only, shown masked)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from patron.audit import service as audit
from patron.core.actor import Actor
from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.settings import get_settings
from patron.messages.errors import UnknownProvider
from patron.messages.kinds import PROVIDERS_BY_CHANNEL, Channel
from patron.messages.models import ChannelSetting
from patron.messages.providers import ConfigField, Provider, registry
from patron.webhooks import urls

_CACHE = "patron_message_channels"


@dataclass(frozen=True)
class ChannelView:
    channel: Channel
    provider: str
    enabled: bool
    configured: bool
    # Every field of the provider: plain values as they are, secrets masked ("" when unset).
    config: dict[str, str]
    secrets: tuple[str, ...]


def provider(name: str) -> Provider:
    found = registry().get(name)
    if found is None:
        raise UnknownProvider(f"no provider {name!r}")
    return found


def get_setting(session: Session, channel: Channel) -> ChannelSetting | None:
    return session.get(ChannelSetting, channel.value)


def config_of(setting: ChannelSetting) -> dict[str, str]:
    try:
        value = json.loads(setting.config or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def with_defaults(fields: tuple[ConfigField, ...], config: dict[str, str]) -> dict[str, str]:
    return {f.name: config.get(f.name) or f.default for f in fields} | {
        k: v for k, v in config.items() if k not in {f.name for f in fields}
    }


def mask_secret(value: str) -> str:
    if not value:
        return ""
    return "****" + value[-4:] if len(value) >= 12 else "****"


def view(session: Session, channel: Channel) -> ChannelView:
    setting = get_setting(session, channel)
    name = setting.provider if setting else "log"
    found = registry().get(name) or registry()["log"]
    config = with_defaults(found.fields, config_of(setting) if setting else {})
    secrets = tuple(f.name for f in found.fields if f.secret)
    shown = {
        f.name: mask_secret(config.get(f.name, "")) if f.secret else config.get(f.name, "")
        for f in found.fields
    }
    return ChannelView(
        channel=channel,
        provider=name,
        enabled=setting.enabled if setting else False,
        configured=setting is not None,
        config=shown,
        secrets=secrets,
    )


def put(
    session: Session,
    actor: Actor,
    channel: Channel,
    provider_name: str,
    enabled: bool,
    config: dict[str, str],
) -> ChannelView:
    """Set the channel's provider and keys. A secret left blank keeps the one stored (when the
    provider stays the same): forms and clients never get secrets back to send them again."""
    if provider_name not in PROVIDERS_BY_CHANNEL[channel]:
        raise UnknownProvider(f"{channel.value} has no provider {provider_name!r}")
    chosen = provider(provider_name)
    setting = get_setting(session, channel)
    kept = config_of(setting) if setting and setting.provider == provider_name else {}
    merged: dict[str, str] = {}
    for field in chosen.fields:
        value = (config.get(field.name) or "").strip()
        if field.secret and not value:
            value = kept.get(field.name, "")
        if field.required and not value and enabled:
            raise InvalidInput(f"config.{field.name}", "required", code=Reason.missing)
        if field.url and value:
            urls.check(value, urls.private_allowed(get_settings()), f"config.{field.name}")
        if value:
            merged[field.name] = value
    if setting is None:
        setting = ChannelSetting(channel=channel.value)
        session.add(setting)
    before = (
        {"provider": setting.provider, "enabled": setting.enabled} if setting.provider else None
    )
    setting.provider, setting.enabled = provider_name, enabled
    session.info.pop(_CACHE, None)
    setting.config = json.dumps(merged, ensure_ascii=False)
    session.flush()
    audit.record(
        session,
        actor,
        "message_channel.update",
        "message_channel",
        channel.value,
        before=before,
        after={
            "provider": provider_name,
            "enabled": enabled,
            # Which keys were set, never their values.
            "keys": sorted(merged),
        },
    )
    return view(session, channel)


def sending_config(session: Session, channel: Channel) -> tuple[Provider, dict[str, str]] | None:
    """The provider and its full configuration for an enabled channel; None when it is off.
    Read once per transaction (a campaign's thousands of sends decrypt it once)."""
    transaction = session.get_transaction()
    held = session.info.get(_CACHE)
    if held is None or held[0] is not transaction:
        held = session.info[_CACHE] = (transaction, {})
    cache: dict[Channel, tuple[Provider, dict[str, str]] | None] = held[1]
    if channel not in cache:
        cache[channel] = _sending_config(session, channel)
    found: tuple[Provider, dict[str, str]] | None = cache[channel]
    return found


def _sending_config(session: Session, channel: Channel) -> tuple[Provider, dict[str, str]] | None:
    setting = get_setting(session, channel)
    if setting is None or not setting.enabled:
        return None
    chosen = registry().get(setting.provider)
    if chosen is None:
        return None
    return chosen, with_defaults(chosen.fields, config_of(setting))
