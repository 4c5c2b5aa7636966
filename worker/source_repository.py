"""The queries about sources seen before: which bytes (by SHA-256) an object held under
each ETag, and the lock that lets one plan at a time fetch and analyse a source."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from ltb.db.models import SourceObject


def etags_of(session: Session, tenant_id: uuid.UUID, uri: str, sha256: str) -> set[str]:
    """The ETags under which `uri` was seen holding the bytes hashed to `sha256`."""
    return set(
        session.scalars(
            select(SourceObject.etag).where(
                SourceObject.tenant_id == tenant_id,
                SourceObject.uri == uri,
                SourceObject.sha256 == sha256,
            )
        )
    )


def sha256_of(session: Session, tenant_id: uuid.UUID, uri: str, etag: str) -> str | None:
    """The SHA-256 of what `uri` held under `etag`, if it was fetched before."""
    return session.scalar(
        select(SourceObject.sha256).where(
            SourceObject.tenant_id == tenant_id,
            SourceObject.uri == uri,
            SourceObject.etag == etag,
        )
    )


def remember(
    session: Session, tenant_id: uuid.UUID, uri: str, etag: str, *, size_bytes: int, sha256: str
) -> None:
    """Records what `uri` held under `etag`, once."""
    if session.get(SourceObject, (tenant_id, uri, etag)) is None:
        session.add(
            SourceObject(
                tenant_id=tenant_id, uri=uri, etag=etag, size_bytes=size_bytes, sha256=sha256
            )
        )


@contextmanager
def advisory_lock(engine: Engine, key: int) -> Iterator[None]:
    """Holds a Postgres advisory lock on `key`, on a connection of its own: it spans the
    fleet, and vanishes with the connection of a worker that dies holding it."""
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
