"""Which URLs Patron calls: http and https only and, unless allowed (development, tests), no
host that resolves to a loopback, link-local, private, reserved or multicast address (SSRF: a
webhook must not reach the server's own network). Checked when an endpoint is saved and again
before each delivery, since DNS answers change."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from patron.core.errors import InvalidInput
from patron.core.reasons import Reason
from patron.core.settings import Settings

SCHEMES = ("http", "https")


def private_allowed(settings: Settings) -> bool:
    """PATRON_WEBHOOK_PRIVATE_URLS, or when unset: everywhere but production."""
    if settings.webhook_private_urls is not None:
        return settings.webhook_private_urls
    return settings.env != "production"


def problem(url: str, allow_private: bool) -> str | None:
    """Why Patron will not call `url`, or None when it will."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    if parts.scheme not in SCHEMES:
        return "only http and https URLs"
    host = parts.hostname
    if not host:
        return "the URL names no host"
    if allow_private:
        return None
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f"the host {host} does not resolve"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).partition("%")[0])
        if _internal(address):
            return f"the host {host} resolves to an internal address ({address})"
    return None


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


def check(url: str, allow_private: bool) -> None:
    """Refuse `url` as the `url` field's error (`url_not_allowed`)."""
    reason = problem(url, allow_private)
    if reason is not None:
        raise InvalidInput("url", reason, code=Reason.url_not_allowed)
