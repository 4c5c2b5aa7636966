"""A tenant's share of the one account quota: its monthly token budget, and how long its
work will take (`eta_s` on a job and a batch).

The ETA (docs/architecture.md "Fair scheduling"):

    share      = tenant weight / sum of the weights of tenants with work in flight or waiting
    ahead      = the tenant's unfinished work ordered before or with the job (higher priority,
                 or the same priority and older), as estimated tokens and requests; a job
                 not planned yet counts as the mean of the tenant's planned unfinished jobs
    eta_s      = max(ahead tokens   / (share × LTB_QUOTA_TPM × LTB_QUOTA_HEADROOM / 60),
                     ahead requests / (share × LTB_QUOTA_RPM / 60))

It assumes the quota is what limits the fleet (the workers keep up) and that the tenants
with work now keep it; it is an estimate that is recomputed on every read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from ltb.db.models import Batch, Chunk, Job, Tenant, UsageRecord
from ltb.settings import get_settings
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


# --- the monthly budget -------------------------------------------------------------------


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(moment: datetime) -> datetime:
    start = month_start(moment)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def booked_tokens_this_month(session: Session, tenant_id: uuid.UUID, moment: datetime) -> int:
    """Every token the usage records booked for the tenant since the month began (UTC)."""
    total = sum((getattr(UsageRecord, kind) for kind in TOKEN_KINDS), start=0)
    return int(
        session.scalar(
            select(func.coalesce(func.sum(total), 0)).where(
                UsageRecord.tenant_id == tenant_id, UsageRecord.created_at >= month_start(moment)
            )
        )
        or 0
    )


# --- the ETA ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Work:
    tokens: float
    requests: float


def _share(session: Session, tenant_id: uuid.UUID) -> float:
    """The tenant's weight over the weights of every tenant with unfinished work, itself included."""
    busy = exists().where(
        Job.tenant_id == Tenant.id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))
    )
    weights = session.scalar(
        select(func.coalesce(func.sum(Tenant.weight), 0)).where(or_(busy, Tenant.id == tenant_id))
    )
    own = session.scalar(select(Tenant.weight).where(Tenant.id == tenant_id)) or 1
    return float(own) / float(weights or own)


def _work_ahead(session: Session, tenant_id: uuid.UUID, key: ColumnElement[bool]) -> Work | None:
    """The tenant's unfinished work among active jobs matching `key`; None if none of it
    is planned and nothing tells what an unplanned job costs."""
    active = and_(Job.tenant_id == tenant_id, Job.status.in_(JOB_ACTIVE))
    tokens, requests = session.execute(
        select(func.coalesce(func.sum(_CHUNK_TOKENS), 0), func.count(Chunk.id))
        .join(Job, Job.id == Chunk.job_id)
        .where(active, key, Chunk.status.in_(UNFINISHED_CHUNK))
    ).one()
    unplanned = int(
        session.scalar(select(func.count(Job.id)).where(active, key, Job.chunks_total == 0)) or 0
    )
    if not unplanned:
        return Work(tokens=float(tokens), requests=float(requests))
    planned_jobs, all_tokens, all_requests = session.execute(
        select(
            func.count(func.distinct(Chunk.job_id)),
            func.coalesce(func.sum(_CHUNK_TOKENS), 0),
            func.count(Chunk.id),
        )
        .join(Job, Job.id == Chunk.job_id)
        .where(active, Chunk.status.in_(UNFINISHED_CHUNK))
    ).one()
    if not planned_jobs:
        return None
    return Work(
        tokens=float(tokens) + unplanned * float(all_tokens) / planned_jobs,
        requests=float(requests) + unplanned * float(all_requests) / planned_jobs,
    )


def _seconds(session: Session, tenant_id: uuid.UUID, work: Work) -> float:
    settings = get_settings()
    share = _share(session, tenant_id)
    tokens_per_s = share * settings.quota_tpm * settings.quota_headroom / 60
    requests_per_s = share * settings.quota_rpm / 60
    return round(max(work.tokens / tokens_per_s, work.requests / requests_per_s), 1)


def _ordered_up_to(priority: str, created_at: datetime, job_id: uuid.UUID) -> ColumnElement[bool]:
    """Jobs the dispatcher takes before or with this one: higher priority, or as high and older."""
    rank, job_rank = Priority(priority).rank, JOB_PRIORITY_RANK
    return or_(
        job_rank > rank,
        and_(
            job_rank == rank,
            tuple_(Job.created_at, Job.id) <= tuple_(created_at, job_id),
        ),
    )


def job_eta_s(session: Session, job: Job) -> float | None:
    """Seconds until the job should finish: 0 once it has ended, None while nothing says
    what it costs (not planned, and no planned job of its tenant to go by)."""
    if job.status not in JOB_ACTIVE:
        return 0.0
    key = _ordered_up_to(job.priority, job.created_at, job.id)
    work = _work_ahead(session, job.tenant_id, key)
    return None if work is None else _seconds(session, job.tenant_id, work)


def batch_eta_s(session: Session, batch: Batch) -> float | None:
    """Seconds until the batch's last job should finish, as for that job."""
    last = session.scalars(
        select(Job)
        .where(Job.batch_id == batch.id, Job.status.in_(JOB_ACTIVE))
        .order_by(JOB_PRIORITY_RANK, Job.created_at.desc(), Job.id.desc())
        .limit(1)
    ).first()
    return 0.0 if last is None else job_eta_s(session, last)
