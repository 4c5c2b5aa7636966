"""The queries of ltb/lifecycle.py: a job ending once, and its batch counting it.

Each is one statement, so that of two workers racing, exactly one sees its effect: the
conditional UPDATE that ends a job, and the atomic increment that counts it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import update
from sqlalchemy.orm import Session

from ltb.db.models import Batch, Job
from ltb.states import JOB_ACTIVE, BatchStatus, JobStatus


class BatchTally(NamedTuple):
    """A batch's count right after a job was counted towards it."""

    jobs_finished: int
    jobs_total: int
    status: str  # a BatchStatus
    callback_url: str | None
    tenant_id: uuid.UUID


def end_active_job(session: Session, job_id: uuid.UUID, values: Mapping[str, object]) -> bool:
    """Writes `values` on the job if it is still active; False if it had already ended."""
    ended = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(JOB_ACTIVE))
        .values(**values)
        .returning(Job.id)
    ).first()
    return ended is not None


def cancel_active_jobs(
    session: Session, batch_id: uuid.UUID, *, status: JobStatus, finished_at: datetime
) -> list[tuple[uuid.UUID, str | None]]:
    """Ends every active job of the batch with `status`; each ended job's id and callback."""
    rows = session.execute(
        update(Job)
        .where(Job.batch_id == batch_id, Job.status.in_(JOB_ACTIVE))
        .values(status=status, finished_at=finished_at)
        .returning(Job.id, Job.callback_url)
    ).all()
    return [(job_id, callback) for job_id, callback in rows]


def add_finished_job(session: Session, batch_id: uuid.UUID) -> BatchTally:
    """Counts one more finished job towards the batch; its count after that."""
    finished, total, status, callback, tenant_id = session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(jobs_finished=Batch.jobs_finished + 1)
        .returning(
            Batch.jobs_finished, Batch.jobs_total, Batch.status, Batch.callback_url, Batch.tenant_id
        )
    ).one()
    return BatchTally(finished, total, status, callback, tenant_id)


def add_finished_jobs(session: Session, batch_id: uuid.UUID, jobs: int) -> None:
    """Counts `jobs` more finished jobs towards the batch, in one statement."""
    session.execute(
        update(Batch).where(Batch.id == batch_id).values(jobs_finished=Batch.jobs_finished + jobs)
    )


def close_batch(
    session: Session, batch_id: uuid.UUID, *, status: BatchStatus, completed_at: datetime
) -> None:
    """The batch's last job was counted: it is over, with `status`."""
    session.execute(
        update(Batch).where(Batch.id == batch_id).values(completed_at=completed_at, status=status)
    )


def reopen_batch(session: Session, batch_id: uuid.UUID, jobs: int) -> None:
    """`jobs` of the batch's finished jobs run again: it counts them unfinished and is open."""
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(
            jobs_finished=Batch.jobs_finished - jobs, completed_at=None, status=BatchStatus.OPEN
        )
    )
