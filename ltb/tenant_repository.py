"""The queries of tenants and their API keys: a tenant by name, the tenant of a key, the
keys listed. The rules (names, grants, minting and revoking keys) are ltb/tenancy.py's."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ltb.db.models import ApiKey, Tenant


def tenant_named(session: Session, name: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.name == name))


def tenant_for_key(session: Session, key_hash: str) -> Tenant | None:
    """The tenant whose live (not revoked) key hashes to `key_hash`."""
    return session.scalar(
        select(Tenant)
        .join(ApiKey, ApiKey.tenant_id == Tenant.id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )


def is_operator_key(session: Session, key_hash: str) -> bool:
    """Whether `key_hash` is the hash of a live operator key."""
    return (
        session.scalar(
            select(ApiKey.id).where(
                ApiKey.key_hash == key_hash,
                ApiKey.operator.is_(True),
                ApiKey.revoked_at.is_(None),
            )
        )
        is not None
    )


def list_keys(session: Session, *, tenant: Tenant) -> list[ApiKey]:
    """The tenant's keys, revoked ones included, oldest first."""
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.tenant_id == tenant.id).order_by(ApiKey.created_at)
        )
    )


def list_operator_keys(session: Session) -> list[ApiKey]:
    """The operator keys, revoked ones included, oldest first."""
    return list(
        session.scalars(select(ApiKey).where(ApiKey.operator.is_(True)).order_by(ApiKey.created_at))
    )
