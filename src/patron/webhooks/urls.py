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
    return resolve(url, allow_private)[0]


def resolve(url: str, allow_private: bool) -> tuple[str | None, str | None]:
    """(why Patron will not call `url`, None) or (None, the address to connect to): the host's
    first address once every address it resolves to is public, so that the connection goes where
    the check looked (no second lookup a rebinding DNS could answer otherwise). The address is
    None when private URLs are allowed (no lookup made)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL", None
    if parts.scheme not in SCHEMES:
        return "only http and https URLs", None
    host = parts.hostname
    if not host:
        return "the URL names no host", None
    if allow_private:
        return None, None
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f"the host {host} does not resolve", None
    addresses = [str(info[4][0]).partition("%")[0] for info in infos]
    for text in addresses:
        address = ipaddress.ip_address(text)
        if _internal(address):
            return f"the host {host} resolves to an internal address ({address})", None
    return (None, addresses[0]) if addresses else (f"the host {host} does not resolve", None)


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


def check(url: str, allow_private: bool, field: str = "url") -> None:
    """Refuse `url` as the `field`'s error (`url_not_allowed`)."""
    reason = problem(url, allow_private)
    if reason is not None:
        raise InvalidInput(field, reason, code=Reason.url_not_allowed)
