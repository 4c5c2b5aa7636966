"""The queries behind a tenant's share of the quota: tokens booked this month, the weights
of tenants with work, and the work waiting ahead of a job (`ltb/fair_share.py` holds the
rules). The job order they share with the dispatcher is built here too."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, Job, Tenant, UsageRecord
from ltb.states import JOB_ACTIVE, ChunkStatus, JobStatus, Priority
from ltb.usage import TOKEN_KINDS

UNFINISHED_CHUNK = (ChunkStatus.PENDING, ChunkStatus.RUNNING)
_CHUNK_TOKENS = (
    Chunk.est_input_audio + Chunk.est_input_video + Chunk.est_output_text + Chunk.est_output_audio
)

# Larger goes first: how the dispatcher and the ETA order a tenant's own jobs.
JOB_PRIORITY_RANK: ColumnElement[int] = case(
    (Job.priority == Priority.HIGH, Priority.HIGH.rank),
    (Job.priority == Priority.LOW, Priority.LOW.rank),
    else_=Priority.NORMAL.rank,
)


def booked_tokens_since(session: Session, tenant_id: uuid.UUID, since: datetime) -> int:
    total = sum((getattr(UsageRecord, kind) for kind in TOKEN_KINDS), start=0)
    return int(
        session.scalar(
            select(func.coalesce(func.sum(total), 0)).where(
                UsageRecord.tenant_id == tenant_id, UsageRecord.created_at >= since
            )
        )
        or 0
    )


def weights(session: Session, tenant_id: uuid.UUID) -> tuple[int, int]:
    """(the tenant's own weight, the sum of the weights of every tenant with unfinished
    work, itself included)."""
    busy = exists().where(
        Job.tenant_id == Tenant.id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))
    )
    total = session.scalar(
        select(func.coalesce(func.sum(Tenant.weight), 0)).where(or_(busy, Tenant.id == tenant_id))
    )
    own = session.scalar(select(Tenant.weight).where(Tenant.id == tenant_id)) or 1
    return int(own), int(total or own)


def ordered_up_to(priority: str, created_at: datetime, job_id: uuid.UUID) -> ColumnElement[bool]:
    """Jobs the dispatcher takes before or with this one: higher priority, or as high and older."""
    rank, job_rank = Priority(priority).rank, JOB_PRIORITY_RANK
    return or_(
        job_rank > rank,
        and_(job_rank == rank, tuple_(Job.created_at, Job.id) <= tuple_(created_at, job_id)),
    )


def unfinished_work(
    session: Session, tenant_id: uuid.UUID, key: ColumnElement[bool]
) -> tuple[float, int, int]:
    """(estimated tokens, chunks) of the unfinished chunks of the tenant's active jobs
    matching `key`, and how many of those jobs are not planned yet."""
    active = and_(Job.tenant_id == tenant_id, Job.status.in_(JOB_ACTIVE))
    tokens, requests = session.execute(
        select(func.coalesce(func.sum(_CHUNK_TOKENS), 0), func.count(Chunk.id))
        .join(Job, Job.id == Chunk.job_id)
        .where(active, key, Chunk.status.in_(UNFINISHED_CHUNK))
    ).one()
    unplanned = session.scalar(select(func.count(Job.id)).where(active, key, Job.chunks_total == 0))
    return float(tokens), int(requests), int(unplanned or 0)


def planned_work(session: Session, tenant_id: uuid.UUID) -> tuple[int, float, int]:
    """(planned active jobs, their unfinished chunks' estimated tokens, those chunks)."""
    active = and_(Job.tenant_id == tenant_id, Job.status.in_(JOB_ACTIVE))
    jobs, tokens, requests = session.execute(
        select(
            func.count(func.distinct(Chunk.job_id)),
            func.coalesce(func.sum(_CHUNK_TOKENS), 0),
            func.count(Chunk.id),
        )
        .join(Job, Job.id == Chunk.job_id)
        .where(active, Chunk.status.in_(UNFINISHED_CHUNK))
    ).one()
    return int(jobs), float(tokens), int(requests)


def last_active_job(session: Session, batch_id: uuid.UUID) -> Job | None:
    """The batch's active job the dispatcher takes last."""
    return session.scalars(
        select(Job)
        .where(Job.batch_id == batch_id, Job.status.in_(JOB_ACTIVE))
        .order_by(JOB_PRIORITY_RANK, Job.created_at.desc(), Job.id.desc())
        .limit(1)
    ).first()
