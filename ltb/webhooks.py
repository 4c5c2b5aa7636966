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
from urllib.parse import urlsplit

from ltb.errors import RequestRefused

SIGNATURE_HEADER = "LTB-Signature"
EVENT_ID_HEADER = "LTB-Event-Id"
EVENT_TYPE_HEADER = "LTB-Event"
JOB_EVENTS = {"succeeded": "job.succeeded", "failed": "job.failed", "cancelled": "job.cancelled"}
BATCH_COMPLETED = "batch.completed"


def check_callback_url(url: str, *, allow_private: bool) -> str:
    """Refuses callback URLs that are not http(s) or that point inside the network (SSRF)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestRefused(
            f"callback_url must be an http(s) URL, not {url[:200]!r}", code="invalid_callback_url"
        )
    if parts.username or parts.password:
        raise RequestRefused("callback_url must not carry credentials", code="invalid_callback_url")
    if not allow_private:
        for address in _addresses(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        ):
            if not address.is_global:
                raise RequestRefused(
                    f"callback_url {parts.hostname} resolves to {address}, a private, loopback or "
                    "reserved address; webhooks go only to public hosts (LTB_WEBHOOK_ALLOW_PRIVATE)",
                    code="callback_url_not_allowed",
                )
    return url


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise RequestRefused(
            f"callback_url host {host!r} does not resolve", code="invalid_callback_url"
        ) from exc
    return [ipaddress.ip_address(info[4][0]) for info in infos]


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
