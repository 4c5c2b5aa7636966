"""Every query of retention and deletion (worker/retention.py): which jobs are due, the
mark, the rows that hold a job's content, and the stamp."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Exists

from ltb.db.models import (
    Chunk,
    ChunkAudio,
    Job,
    SourceAnalysisCache,
    SourceObject,
    Tenant,
    UtcDateTime,
)
from ltb.lifecycle import Deliver, job_deleted
from ltb.states import JOB_FINISHED


def due(session: Session, *, moment: datetime, limit: int) -> list[uuid.UUID]:
    """Finished jobs whose outputs still exist and must go: marked ones (a deletion asked
    for, or cut short), and those past their keep period. Oldest first."""
    return list(
        session.scalars(
            select(Job.id)
            .join(Tenant, Tenant.id == Job.tenant_id)
            .where(
                Job.outputs_expired_at.is_(None),
                Job.finished_at.is_not(None),
                Job.status.in_(JOB_FINISHED),
                or_(Job.purge_started_at.is_not(None), _past_retention(session, moment)),
            )
            .order_by(Job.finished_at)
            .limit(limit)
        )
    )


def _past_retention(session: Session, moment: datetime) -> ColumnElement[bool]:
    """finished_at + the shorter of the job's and its tenant's periods <= moment, in each
    database's date arithmetic. Both periods NULL (forever) makes it NULL, never true."""
    if session.get_bind().dialect.name == "sqlite":
        shorter = func.min(
            func.coalesce(Job.retention_days, Tenant.retention_days),
            func.coalesce(Tenant.retention_days, Job.retention_days),
        )
        return func.julianday(Job.finished_at) + shorter <= func.julianday(
            literal(moment, UtcDateTime())
        )
    # LEAST ignores NULLs on Postgres.
    days = func.least(Job.retention_days, Tenant.retention_days)
    return Job.finished_at + func.make_interval(0, 0, 0, days) <= moment


def mark(session: Session, job_id: uuid.UUID, *, moment: datetime) -> None:
    """Deletion of the job's objects begins: from now on no output of it is shown."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.purge_started_at.is_(None))
        .values(purge_started_at=moment)
    )


def to_purge(session: Session, job_id: uuid.UUID) -> Job | None:
    """The job, if it is marked for deletion and not yet stamped."""
    return session.scalar(
        select(Job).where(
            Job.id == job_id,
            Job.purge_started_at.is_not(None),
            Job.outputs_expired_at.is_(None),
        )
    )


def forget_content(session: Session, job: Job) -> None:
    """The job's content kept in the database: the chunks' dubs and translations. The
    chunk rows stay, as the job's history; so do its usage records."""
    session.execute(
        delete(ChunkAudio).where(
            ChunkAudio.chunk_id.in_(select(Chunk.id).where(Chunk.job_id == job.id))
        )
    )
    session.execute(update(Chunk).where(Chunk.job_id == job.id).values(result_text=None))


def _keeps_source(sha256: str, *, besides: uuid.UUID, tenant_id: uuid.UUID) -> Exists:
    """Another job of the tenant with this source whose outputs are not being deleted."""
    return exists().where(
        Job.source_sha256 == sha256,
        Job.tenant_id == tenant_id,
        Job.id != besides,
        Job.purge_started_at.is_(None),
        Job.outputs_expired_at.is_(None),
    )


def forget_source(session: Session, job: Job) -> None:
    """Drops the tenant's cached analysis and object hashes of the job's source unless
    another of its jobs still keeps outputs of it. Workers' copies of the bytes (shared
    by content hash across tenants) go once no tenant's hashes name them."""
    sha = job.source_sha256
    if sha is None:
        return
    if not session.scalar(select(_keeps_source(sha, besides=job.id, tenant_id=job.tenant_id))):
        session.execute(
            delete(SourceAnalysisCache).where(
                SourceAnalysisCache.tenant_id == job.tenant_id, SourceAnalysisCache.sha256 == sha
            )
        )
        session.execute(
            delete(SourceObject).where(
                SourceObject.tenant_id == job.tenant_id, SourceObject.sha256 == sha
            )
        )


def known_sources(session: Session, sha256s: list[str]) -> set[str]:
    """Of these content hashes, those some tenant's source objects still map to."""
    if not sha256s:
        return set()
    return set(session.scalars(select(SourceObject.sha256).where(SourceObject.sha256.in_(sha256s))))


def stamp(
    session: Session, job_id: uuid.UUID, *, moment: datetime, deliver: Deliver | None
) -> bool:
    """The deletion is done. One conditional UPDATE: of two runs, exactly one stamps,
    and only it tells a deleted job's callback."""
    stamped = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.outputs_expired_at.is_(None))
        .values(outputs_expired_at=moment)
        .returning(Job.id)
    ).first()
    if stamped is None:
        return False
    job = session.get_one(Job, job_id)
    session.refresh(job)
    if job.deleted_at is not None:
        job_deleted(session, job, deliver=deliver)
    return True
