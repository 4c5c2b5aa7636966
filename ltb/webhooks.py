"""Webhooks: where they may go, how they are signed, and how a receiver checks them.

A body is signed with HMAC-SHA256 over `<unix timestamp>.<body>` using the tenant's
secret, sent as `LTB-Signature: t=<unix>,v1=<hex>`. Receivers recompute the digest,
compare in constant time, and refuse timestamps too far from their clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ltb.errors import RequestRefused
from ltb.states import JOB_EVENTS as _JOB_EVENTS
from ltb.states import EventType

SIGNATURE_HEADER = "LTB-Signature"
EVENT_ID_HEADER = "LTB-Event-Id"
EVENT_TYPE_HEADER = "LTB-Event"
JOB_EVENTS = _JOB_EVENTS
BATCH_COMPLETED = EventType.BATCH_COMPLETED


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses the host has; socket.getaddrinfo unless a test injects one.
Resolver = Callable[[str, int], list[Address]]

# IPv6 forms that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64, and the
# deprecated IPv4-compatible form); Python's is_global judges the IPv6 form only.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# RFC 8215: NAT64 prefixes for use inside a network, never a public host.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


@dataclass(frozen=True)
class Target:
    """Where a webhook goes: the checked URL and the addresses its host resolved to, once.
    A POST connects only to these, so a second lookup cannot point it elsewhere."""

    url: str
    host: str
    addresses: tuple[Address, ...]


def redact(url: str) -> str:
    """scheme://host[:port] of `url`, for logs: paths and queries may carry tokens."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"


def check_callback_url(url: str, *, allow_private: bool) -> str:
    """Refuses callback URLs that are not http(s) or that point inside the network (SSRF)."""
    resolve_callback(url, allow_private=allow_private)
    return url


def resolve_callback(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Target:
    """Checks `url`, resolves its host once and refuses it if any address is not public."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # brackets around something that is no IPv6 address
        raise RequestRefused(
            "callback_url is not a valid URL", code="invalid_callback_url"
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestRefused(
            "callback_url must be an http(s) URL with a host", code="invalid_callback_url"
        )
    if parts.username or parts.password:
        raise RequestRefused("callback_url must not carry credentials", code="invalid_callback_url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RequestRefused(
            "callback_url has an invalid port", code="invalid_callback_url"
        ) from exc
    addresses = _addresses(parts.hostname, port, resolver or _getaddrinfo)
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise RequestRefused(
                    f"callback_url {parts.hostname} resolves to {address}, a private, loopback or "
                    "reserved address; webhooks go only to public hosts (LTB_WEBHOOK_ALLOW_PRIVATE)",
                    code="callback_url_not_allowed",
                )
    return Target(url=url, host=parts.hostname, addresses=tuple(addresses))


def is_public(address: Address) -> bool:
    """True for an address on the public internet, including any IPv4 address an IPv6
    form carries (mapped, NAT64, 6to4, compatible), which must be public too."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in _NAT64 or address in _IPV4_COMPATIBLE):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded.is_global
    return True


def _addresses(host: str, port: int, resolver: Resolver) -> list[Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        # UnicodeError: a host name IDNA cannot encode, which no DNS answer can name.
        raise RequestRefused(
            f"callback_url host {host!r} does not resolve", code="invalid_callback_url"
        ) from exc
    if not addresses:
        raise RequestRefused(
            f"callback_url host {host!r} does not resolve", code="invalid_callback_url"
        )
    return addresses


def _getaddrinfo(host: str, port: int) -> list[Address]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    # An IPv6 answer may carry a zone (fe80::1%eth0); the zone never makes it public.
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return list(dict.fromkeys(found))


def signature(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The LTB-Signature header value for `body`."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: True if `header` signs `body` with `secret`, recently."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        moment = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - moment) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))
