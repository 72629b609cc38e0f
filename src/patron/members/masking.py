"""How PII looks to callers who may not see it in full."""

from __future__ import annotations


def mask_mobile(e164: str) -> str:
    national = e164.removeprefix("+86")
    return f"{national[:3]}****{national[-4:]}"


def mask_name(name: str) -> str:
    return name[0] + "*" * max(1, len(name) - 1)


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_birthday(iso: str) -> str:
    return "****" + iso[4:]


def national_mobile(e164: str) -> str:
    return e164.removeprefix("+86")


def mask_value(value: str) -> str:
    return value[:2] + "*" * max(2, len(value) - 4) + value[-2:] if len(value) > 4 else "****"
