"""Every query about jobs the API makes, and nowhere else."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select, tuple_, update
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, Job
from ltb.lifecycle import reopened
from ltb.states import ChunkStatus, JobStatus


@dataclass(frozen=True, slots=True)
class JobFilters:
    status: JobStatus | None = None
    target_lang: str | None = None
    label: tuple[str, str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    batch_id: uuid.UUID | None = None


def get(session: Session, *, tenant_id: uuid.UUID, job_id: uuid.UUID) -> Job | None:
    """A tenant's job; another tenant's job does not exist."""
    return session.scalar(select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id))


def by_idempotency_key(session: Session, *, tenant_id: uuid.UUID, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key))


def page(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    filters: JobFilters,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Job]:
    """Newest first, keyset-paginated on (created_at, id)."""
    query: Select[Any] = select(Job).where(Job.tenant_id == tenant_id)
    if filters.status:
        query = query.where(Job.status == filters.status)
    if filters.target_lang:
        query = query.where(Job.target_lang == filters.target_lang)
    if filters.batch_id:
        query = query.where(Job.batch_id == filters.batch_id)
    if filters.label:
        name, value = filters.label
        query = query.where(Job.labels[name].as_string() == value)
    if filters.created_from:
        query = query.where(Job.created_at >= filters.created_from)
    if filters.created_to:
        query = query.where(Job.created_at < filters.created_to)
    if after is not None:
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(*after))
    return list(session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)))


def mark_deleted(session: Session, *, job_id: uuid.UUID) -> None:
    """The owner deleted the job: marked once, so a second DELETE keeps the first moment."""
    moment = datetime.now(UTC)
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.deleted_at.is_(None))
        .values(deleted_at=moment, purge_started_at=func.coalesce(Job.purge_started_at, moment))
    )


def cancel_unstarted_chunks(session: Session, *, job_id: uuid.UUID) -> None:
    session.execute(
        update(Chunk)
        .where(Chunk.job_id == job_id, Chunk.status == ChunkStatus.PENDING)
        .values(status=ChunkStatus.CANCELLED)
    )


def over_budget() -> ColumnElement[bool]:
    """Whether a job's plan estimate exceeds its budget: such a job must not be queued again,
    or its chunks would be requested without the check the plan made. Never NULL."""
    return or_(
        and_(
            Job.budget_max_input_tokens.is_not(None),
            Job.est_input_tokens.is_not(None),
            Job.est_input_tokens > Job.budget_max_input_tokens,
        ),
        and_(
            Job.budget_max_cost.is_not(None),
            Job.est_cost.is_not(None),
            Job.est_cost > Job.budget_max_cost,
        ),
    )


def requeue_failed_job(session: Session, *, tenant_id: uuid.UUID, job_id: uuid.UUID) -> bool:
    """Puts the tenant's job back in the queue if it failed and is within its budget;
    returns whether it did."""
    return bool(_requeue_failed(session, (Job.id == job_id) & (Job.tenant_id == tenant_id)))


def requeue_failed_of_batch(session: Session, *, batch_id: uuid.UUID) -> list[uuid.UUID]:
    """Puts the batch's failed jobs within their budget back in the queue; returns their ids."""
    return _requeue_failed(session, Job.batch_id == batch_id)


def _requeue_failed(session: Session, where: ColumnElement[bool]) -> list[uuid.UUID]:
    """Puts the failed jobs matching `where` back in the queue, within their budget.

    One conditional UPDATE: of two retries racing for a job, the second waits for the
    first's row lock, then finds the job no longer failed and leaves it alone, so a
    batch never counts one job back twice. Returns the id of each reopened job.
    """
    return list(
        session.scalars(
            update(Job)
            .where(
                where,
                Job.status == JobStatus.FAILED,
                not_(over_budget()),
                # A deleted job's translations are gone: it cannot pick up where it failed.
                Job.purge_started_at.is_(None),
            )
            .values(reopened())
            .returning(Job.id)
        )
    )


def reopen_unfinished_chunks(session: Session, *, job_ids: Sequence[uuid.UUID]) -> None:
    """Chunks that are not done go back to pending; done chunks are never requested again.

    A running chunk whose lease is still live belongs to a worker that is paying for it
    right now; reopening it would have another worker request it too. It is left to its
    holder (or to the reaper, once the lease expires)."""
    lease_expired = or_(Chunk.lease_until.is_(None), Chunk.lease_until < datetime.now(UTC))
    session.execute(
        update(Chunk)
        .where(
            Chunk.job_id.in_(job_ids),
            or_(
                Chunk.status.in_((ChunkStatus.FAILED, ChunkStatus.CANCELLED)),
                and_(Chunk.status == ChunkStatus.RUNNING, lease_expired),
            ),
        )
        .values(
            status=ChunkStatus.PENDING,
            lease_until=None,
            lease_owner=None,
            admitted_at=None,  # back in the tenant's line for the dispatcher
            error_code=None,
            error_message=None,
        )
    )
