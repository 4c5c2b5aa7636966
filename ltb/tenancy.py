"""Tenants, their grants and their API keys. Keys are shown once and stored only as hashes.

A tenant holds two lists of grants, both folders (`s3://bucket/prefix/`): read grants
say which sources its jobs may fetch, write grants where its jobs may put their outputs
besides the default output location, which is always writable. Prefixes are folders, not
strings: a grant of `s3://media/initech` covers `s3://media/initech/talk.mp4`, never
`s3://media/initech-secret/talk.mp4`.

Finding a tenant or a key's tenant, and listing keys, are queries: ltb/tenant_repository.py.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ltb.db.models import ApiKey, Tenant, utcnow
from ltb.errors import LtbError, RequestRefused
from ltb.retention import check_tenant_retention
from ltb.storage import ObjectRef
from ltb.tenant_repository import tenant_named

KEY_PREFIX = "ltb_"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is as safe as a slow one and keeps
    # every request's lookup to one indexed read.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


# --- grants -----------------------------------------------------------------------------


def folder(prefix: str) -> str:
    """`prefix` as a folder, `s3://bucket/` or `s3://bucket/key/`; refuses anything else."""
    scheme, sep, rest = prefix.partition("://")
    bucket, _, key = rest.partition("/")
    try:
        if scheme != "s3" or not sep:
            raise ValueError
        # A bucket-wide grant is the bucket's root folder; a key is checked as a folder.
        ObjectRef.parse(f"s3://{bucket}/{key.rstrip('/') or 'x'}/")
    except (LtbError, ValueError):
        raise RequestRefused(
            f"grants look like s3://bucket/prefix/ (got {prefix!r})", code="invalid_prefix"
        ) from None
    key = key.rstrip("/")
    return f"s3://{bucket}/{key}/" if key else f"s3://{bucket}/"


def folders(prefixes: Iterable[str]) -> list[str]:
    """Each prefix as a folder, once, in the order given."""
    return list(dict.fromkeys(folder(prefix) for prefix in prefixes))


def under(uri: str, grants: Sequence[str]) -> bool:
    """Whether `uri` (an object, or a folder ending in /) lies inside one of `grants`.

    A grant is read as a folder even if a row somehow holds it without its slash, so it
    can never match a sibling that merely shares its spelling.
    """
    for grant in grants:
        grant_folder = grant if grant.endswith("/") else grant + "/"
        if uri.startswith(grant_folder):
            return True
    return False


def may_read(tenant: Tenant, uri: str) -> bool:
    """Whether the tenant's jobs may read `uri`."""
    return under(uri, tenant.read_prefixes)


def default_output_folder(tenant: Tenant, *, output_bucket: str) -> str:
    return f"s3://{output_bucket}/{tenant.name}/"


def default_output_prefix(tenant: Tenant, job_id: uuid.UUID, *, output_bucket: str) -> str:
    """Where a job writes its outputs when its request names no prefix."""
    return f"{default_output_folder(tenant, output_bucket=output_bucket)}{job_id}/"


def may_write(tenant: Tenant, uri: str, *, output_bucket: str) -> bool:
    """Whether the tenant's jobs may write under `uri`: its default output folder, or
    one of its write grants. A read grant is not a write grant."""
    return under(uri, [default_output_folder(tenant, output_bucket=output_bucket)]) or under(
        uri, tenant.write_prefixes
    )


# --- tenants ----------------------------------------------------------------------------


def create_tenant(
    session: Session,
    *,
    name: str,
    read_prefixes: Sequence[str],
    write_prefixes: Sequence[str] = (),
    retention_days: int | None = None,
) -> Tenant:
    """A new tenant that may read under `read_prefixes` and write under `write_prefixes`."""
    if not _NAME.match(name):
        raise RequestRefused(
            f"tenant names are lower-case letters, digits, - and _ (got {name!r})",
            code="invalid_tenant_name",
        )
    reads, writes = folders(read_prefixes), folders(write_prefixes)
    check_tenant_retention(retention_days)
    if tenant_named(session, name) is not None:
        raise RequestRefused(f"a tenant named {name!r} exists already", code="tenant_exists")
    tenant = Tenant(
        name=name, read_prefixes=reads, write_prefixes=writes, retention_days=retention_days
    )
    session.add(tenant)
    session.flush()
    return tenant


def find_tenant(session: Session, name: str) -> Tenant:
    tenant = tenant_named(session, name)
    if tenant is None:
        raise RequestRefused(
            f"no tenant named {name!r}; create it with `ltb tenants create`", code="unknown_tenant"
        )
    return tenant


def set_retention(session: Session, tenant: Tenant, days: int | None) -> Tenant:
    """Keep the tenant's finished jobs' outputs `days` days (None: until deleted). It
    applies to jobs already finished too: the sweep reads it each time."""
    tenant.retention_days = check_tenant_retention(days)
    session.flush()
    return tenant


def rotate_webhook_secret(session: Session, tenant: Tenant) -> str:
    """A new secret for the tenant's webhooks. Every delivery from now on, retries of
    earlier events included, is signed with it."""
    tenant.webhook_secret = new_webhook_secret()
    session.flush()
    return tenant.webhook_secret


@dataclass(frozen=True, slots=True)
class TenantShares:
    """What `ltb tenants update` may change about a tenant's share of the quota; None keeps
    a value, and 0 takes a cap or budget away."""

    weight: int | None = None
    max_concurrent_chunks: int | None = None
    monthly_token_budget: int | None = None


def update_shares(session: Session, tenant: Tenant, shares: TenantShares) -> Tenant:
    for name in ("weight", "max_concurrent_chunks", "monthly_token_budget"):
        value = getattr(shares, name)
        if value is not None and value < 0:
            raise RequestRefused(f"{name} must be 0 or more (got {value})", code="invalid_tenant")
    if shares.weight is not None:
        if shares.weight < 1:
            raise RequestRefused("the weight must be 1 or more", code="invalid_tenant")
        tenant.weight = shares.weight
    if shares.max_concurrent_chunks is not None:
        tenant.max_concurrent_chunks = shares.max_concurrent_chunks or None
    if shares.monthly_token_budget is not None:
        tenant.monthly_token_budget = shares.monthly_token_budget or None
    session.flush()
    return tenant


# --- keys -------------------------------------------------------------------------------


def create_key(session: Session, *, tenant: Tenant) -> str:
    """A new API key for `tenant`; the only time the key itself is ever seen."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(tenant_id=tenant.id, key_hash=hash_key(key), display_prefix=key[:12]))
    session.flush()
    return key


def create_operator_key(session: Session) -> str:
    """A new operator key: no tenant, read-only across tenants in the console's fleet
    view. The tenant API refuses it. Printed once, stored hashed, like a tenant key."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKey(tenant_id=None, operator=True, key_hash=hash_key(key), display_prefix=key[:12])
    )
    session.flush()
    return key


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revokes the key with id `key_id`. Revoking a revoked key changes nothing."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise RequestRefused(
            f"key ids look like 5f0c…-…; `ltb keys list --tenant NAME` shows them (got {key_id!r})",
            code="invalid_key_id",
        ) from None
    key = session.get(ApiKey, parsed)
    if key is None:
        raise RequestRefused(
            f"no API key with id {key_id}; `ltb keys list --tenant NAME` shows them",
            code="unknown_key",
        )
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key
