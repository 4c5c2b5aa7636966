"""Tenants and their API keys. Keys are shown once and stored only as hashes."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ltb.db.models import ApiKey, Tenant
from ltb.errors import RequestRefused

KEY_PREFIX = "ltb_"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is as safe as a slow one and keeps
    # every request's lookup to one indexed read.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_tenant(session: Session, *, name: str, allowed_prefixes: list[str]) -> Tenant:
    """A new tenant that may read sources under `allowed_prefixes` (s3://bucket/prefix/)."""
    if not _NAME.match(name):
        raise RequestRefused(
            f"tenant names are lower-case letters, digits, - and _ (got {name!r})",
            code="invalid_tenant_name",
        )
    for prefix in allowed_prefixes:
        if not prefix.startswith("s3://") or len(prefix) <= len("s3://") or ".." in prefix:
            raise RequestRefused(
                f"allowed prefixes look like s3://bucket/prefix/ (got {prefix!r})",
                code="invalid_prefix",
            )
    if session.scalar(select(Tenant).where(Tenant.name == name)) is not None:
        raise RequestRefused(f"a tenant named {name!r} exists already", code="tenant_exists")
    tenant = Tenant(name=name, allowed_prefixes=list(allowed_prefixes))
    session.add(tenant)
    session.flush()
    return tenant


def find_tenant(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise RequestRefused(
            f"no tenant named {name!r}; create it with `ltb tenants create`", code="unknown_tenant"
        )
    return tenant


def create_key(session: Session, *, tenant: Tenant) -> str:
    """A new API key for `tenant`; the only time the key itself is ever seen."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(tenant_id=tenant.id, key_hash=hash_key(key), display_prefix=key[:12]))
    session.flush()
    return key
