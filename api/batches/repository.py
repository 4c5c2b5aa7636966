"""Every query about batches the API makes, and nowhere else."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from ltb.db.models import Batch, Chunk, Job
from ltb.states import BatchStatus, ChunkStatus

# Rows per INSERT statement when a batch's jobs are recorded.
INSERT_PAGE = 5000


def get(session: Session, *, tenant_id: uuid.UUID, batch_id: uuid.UUID) -> Batch | None:
    """A tenant's batch; another tenant's batch does not exist."""
    return session.scalar(select(Batch).where(Batch.id == batch_id, Batch.tenant_id == tenant_id))


def by_idempotency_key(session: Session, *, tenant_id: uuid.UUID, key: str) -> Batch | None:
    return session.scalar(
        select(Batch).where(Batch.tenant_id == tenant_id, Batch.idempotency_key == key)
    )


def newest(session: Session, *, tenant_id: uuid.UUID, limit: int) -> list[Batch]:
    """The tenant's batches, newest first."""
    return list(
        session.scalars(
            select(Batch)
            .where(Batch.tenant_id == tenant_id)
            .order_by(Batch.created_at.desc(), Batch.id.desc())
            .limit(limit)
        )
    )


def add_jobs(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Records a batch's jobs with Core inserts, a few thousand rows a statement: ORM
    objects would cost seconds for 10,000 jobs."""
    for start in range(0, len(rows), INSERT_PAGE):
        session.execute(insert(Job), rows[start : start + INSERT_PAGE])


def cancel_unstarted_chunks(session: Session, *, batch_id: uuid.UUID) -> None:
    """The pending chunks of the batch's jobs will never be sent."""
    session.execute(
        update(Chunk)
        .where(
            Chunk.job_id.in_(select(Job.id).where(Job.batch_id == batch_id)),
            Chunk.status == ChunkStatus.PENDING,
        )
        .values(status=ChunkStatus.CANCELLED)
    )


def reopen(session: Session, *, batch_id: uuid.UUID, jobs: int) -> None:
    """Opens the batch again with `jobs` of its finished jobs back in the queue."""
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(
            jobs_finished=Batch.jobs_finished - jobs, status=BatchStatus.OPEN, completed_at=None
        )
    )
