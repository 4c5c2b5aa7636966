"""Every query about cues and output revisions the API makes, and nowhere else."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, Job, JobCue, JobRevision
from ltb.states import ChunkStatus, RevisionStatus


def cues(session: Session, *, job_id: uuid.UUID, revision: int) -> list[JobCue]:
    return list(
        session.scalars(
            select(JobCue)
            .where(JobCue.job_id == job_id, JobCue.revision == revision)
            .order_by(JobCue.idx)
        )
    )


def has_cues(session: Session, *, job_id: uuid.UUID, revision: int) -> bool:
    return (
        session.scalar(
            select(JobCue.idx).where(JobCue.job_id == job_id, JobCue.revision == revision).limit(1)
        )
        is not None
    )


def lock_job(session: Session, job: Job) -> None:
    """Serialises revisions of one job: two requests cannot both take the next number."""
    session.execute(select(Job.id).where(Job.id == job.id).with_for_update())


def pending_revision(session: Session, *, job_id: uuid.UUID) -> int | None:
    return session.scalar(
        select(JobRevision.revision).where(
            JobRevision.job_id == job_id, JobRevision.status == RevisionStatus.PENDING
        )
    )


def next_revision(session: Session, *, job_id: uuid.UUID) -> int:
    latest = session.scalar(
        select(func.max(JobRevision.revision)).where(JobRevision.job_id == job_id)
    )
    return int(latest or 0) + 1


def add_revision(session: Session, revision: JobRevision, cues: Sequence[JobCue] = ()) -> None:
    session.add(revision)
    session.flush()
    session.add_all(cues)
    session.flush()


def chunk(session: Session, *, job_id: uuid.UUID, idx: int) -> Chunk | None:
    return session.scalar(select(Chunk).where(Chunk.job_id == job_id, Chunk.idx == idx))


def is_done(row: Chunk) -> bool:
    return row.status == ChunkStatus.DONE
