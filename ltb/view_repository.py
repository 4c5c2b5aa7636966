"""The queries behind ltb/views.py: a batch's jobs counted by target and status, its
failures, and the usage sums of a job and of a batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ltb.db.models import Job, JobRevision, UsageDaily, UsageRecord
from ltb.states import JobStatus
from ltb.usage import TOKEN_KINDS


def batch_job_counts(session: Session, batch_id: uuid.UUID) -> list[tuple[str, str, int, int, int]]:
    """Per target language and status: (target_lang, status, jobs, chunks_done, chunks_total)."""
    return list(
        session.execute(
            select(
                Job.target_lang,
                Job.status,
                func.count(Job.id),
                func.coalesce(func.sum(Job.chunks_done), 0),
                func.coalesce(func.sum(Job.chunks_total), 0),
            )
            .where(Job.batch_id == batch_id)
            .group_by(Job.target_lang, Job.status)
        )
    )


def batch_failures(
    session: Session, batch_id: uuid.UUID, *, limit: int
) -> list[tuple[uuid.UUID, str, str, str | None, str | None]]:
    """The batch's first `limit` failed jobs, in the order they failed:
    (id, source_uri, target_lang, error_code, error_message)."""
    return list(
        session.execute(
            select(Job.id, Job.source_uri, Job.target_lang, Job.error_code, Job.error_message)
            .where(Job.batch_id == batch_id, Job.status == JobStatus.FAILED)
            .order_by(Job.finished_at)
            .limit(limit)
        ).all()
    )


def batch_failure_codes(session: Session, batch_id: uuid.UUID) -> list[tuple[str | None, int]]:
    """How many of the batch's jobs failed with each error code: (error_code, jobs)."""
    return list(
        session.execute(
            select(Job.error_code, func.count(Job.id))
            .where(Job.batch_id == batch_id, Job.status == JobStatus.FAILED)
            .group_by(Job.error_code)
        ).all()
    )


def usage_record_sums(session: Session, where: Iterable[Any]) -> tuple[Any, ...]:
    """Over the usage records matching `where`: each token kind's sum (in TOKEN_KINDS
    order), then the count of records, then the summed cost."""
    return session.execute(
        select(
            *(func.coalesce(func.sum(getattr(UsageRecord, kind)), 0) for kind in TOKEN_KINDS),
            func.count(UsageRecord.id),
            func.coalesce(func.sum(UsageRecord.cost), 0),
        ).where(*where)
    ).one()


def batch_usage_sums(
    session: Session, tenant_id: uuid.UUID, batch_id: uuid.UUID
) -> tuple[Any, ...]:
    """Over the batch's daily rollup rows: each token kind's sum (in TOKEN_KINDS order),
    then requests, cost and the currency."""
    return session.execute(
        select(
            *(func.coalesce(func.sum(getattr(UsageDaily, kind)), 0) for kind in TOKEN_KINDS),
            func.coalesce(func.sum(UsageDaily.requests), 0),
            func.coalesce(func.sum(UsageDaily.cost), 0),
            func.max(UsageDaily.currency),
        ).where(UsageDaily.tenant_id == tenant_id, UsageDaily.batch_id == str(batch_id))
    ).one()


def job_revisions(session: Session, job_id: uuid.UUID) -> list[JobRevision]:
    """The job's output revisions after the first, oldest first."""
    return list(
        session.scalars(
            select(JobRevision).where(JobRevision.job_id == job_id).order_by(JobRevision.revision)
        )
    )
