"""The dispatcher's queries: which chunks are in flight, and which go next.

Why one SQL query in Postgres rather than a deficit round robin in Redis: Postgres already
holds every chunk's state, so the choice is made from the truth and nothing has to be
rebuilt when Redis is lost (docs/architecture.md "Reliability rules"); a Redis DRR would
be a second copy of the backlog to keep in step with cancels, retries, splits and the
reaper. The window is small (a few times the worker slots), so admitting is rare and cheap
next to a chunk's provider request.

The fairness rule is weighted fair queuing over chunks in flight: a tenant's next chunk
has the virtual place (in_flight + its place in the tenant's own order) / weight, and the
smallest places are admitted first. A tenant with one chunk waiting therefore goes ahead
of a tenant with a thousand as soon as a slot is free, and two backlogged tenants hold the
window in the ratio of their weights. Within a tenant, chunks go by job priority, then by
job age, then in timeline order.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, and_, cast, func, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ltb.db.models import Chunk, Job, Tenant
from ltb.fair_share_repository import JOB_PRIORITY_RANK
from ltb.states import ChunkStatus, JobStatus

# Serialises admission across the fleet: the window is one count over every tenant, so two
# dispatchers choosing at once would both fill it. Any constant works; this one spells "ltbfair".
DISPATCH_LOCK_KEY = 0x6C7462_66616972


def in_flight() -> ColumnElement[bool]:
    """Chunks the dispatcher admitted that have not finished, of jobs still running."""
    return and_(
        Chunk.admitted_at.is_not(None),
        Chunk.status.in_((ChunkStatus.PENDING, ChunkStatus.RUNNING)),
        Job.status == JobStatus.RUNNING,
    )


def lock_dispatch(session: Session) -> None:
    """Held until the transaction ends; SQLite serialises its writers by itself."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DISPATCH_LOCK_KEY})


def in_flight_by_tenant(session: Session) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(Chunk.tenant_id, func.count(Chunk.id))
        .join(Job, Job.id == Chunk.job_id)
        .where(in_flight())
        .group_by(Chunk.tenant_id)
    ).all()
    return {tenant_id: int(count) for tenant_id, count in rows}


def next_chunks(session: Session, *, free_slots: int) -> list[uuid.UUID]:
    """Up to `free_slots` waiting chunks, fairest first, within each tenant's cap."""
    if free_slots <= 0:
        return []
    flight = (
        select(Chunk.tenant_id.label("tenant_id"), func.count(Chunk.id).label("chunks"))
        .join(Job, Job.id == Chunk.job_id)
        .where(in_flight())
        .group_by(Chunk.tenant_id)
        .subquery("flight")
    )
    place = (
        func.row_number()
        .over(
            partition_by=Chunk.tenant_id,
            order_by=(JOB_PRIORITY_RANK.desc(), Job.created_at, Job.id, Chunk.idx),
        )
        .label("place")
    )
    waiting = (
        select(Chunk.id.label("id"), Chunk.tenant_id.label("tenant_id"), place)
        .join(Job, Job.id == Chunk.job_id)
        .where(
            Chunk.status == ChunkStatus.PENDING,
            Chunk.admitted_at.is_(None),
            Job.status == JobStatus.RUNNING,
        )
        .subquery("waiting")
    )
    # A tenant's k-th waiting chunk would be its (in_flight + k)-th chunk in flight.
    nth_in_flight = func.coalesce(flight.c.chunks, 0) + waiting.c.place
    virtual_place = cast(nth_in_flight, Float) / Tenant.weight
    chosen = session.scalars(
        select(waiting.c.id)
        .join(Tenant, Tenant.id == waiting.c.tenant_id)
        .outerjoin(flight, flight.c.tenant_id == waiting.c.tenant_id)
        .where(
            waiting.c.place <= free_slots,
            or_(
                Tenant.max_concurrent_chunks.is_(None),
                nth_in_flight <= Tenant.max_concurrent_chunks,
            ),
        )
        .order_by(virtual_place, waiting.c.place, waiting.c.tenant_id)
        .limit(free_slots)
    ).all()
    if not chosen:
        return []
    # Skip a chunk someone holds right now (a cancel, a retry): the next round takes it.
    free = set(
        session.scalars(
            select(Chunk.id).where(Chunk.id.in_(chosen)).with_for_update(skip_locked=True)
        )
    )
    return [chunk_id for chunk_id in chosen if chunk_id in free]  # fairest first


def admit(session: Session, chunk_ids: list[uuid.UUID], *, moment: datetime) -> list[uuid.UUID]:
    if not chunk_ids:
        return []
    admitted = session.scalars(
        update(Chunk)
        .where(
            Chunk.id.in_(chunk_ids),
            Chunk.status == ChunkStatus.PENDING,
            Chunk.admitted_at.is_(None),
        )
        .values(admitted_at=moment)
        .returning(Chunk.id)
    ).all()
    by_id = {chunk_id: n for n, chunk_id in enumerate(chunk_ids)}
    return sorted(admitted, key=lambda chunk_id: by_id[chunk_id])


def admitted_pending(session: Session, job_id: uuid.UUID) -> list[uuid.UUID]:
    """A job's chunks that were admitted but not yet claimed: their messages may be lost."""
    return list(
        session.scalars(
            select(Chunk.id).where(
                Chunk.job_id == job_id,
                Chunk.status == ChunkStatus.PENDING,
                Chunk.admitted_at.is_not(None),
            )
        )
    )
