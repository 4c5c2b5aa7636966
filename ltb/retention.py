"""Retention: how long a finished job's outputs and the copies made for it are kept.

- A tenant keeps its jobs' outputs for `retention_days` after each job finished; None
  (the default) keeps them until the tenant deletes the job. There is deliberately no
  fleet-wide default: a setting that starts deleting every tenant's outputs after an
  upgrade would be a surprise no operator asked for.
- A job may ask for a shorter period (`retention_days` on the job or batch request),
  never a longer one (`retention_too_long`). Its period is the shorter of the two, read
  when the sweep runs, so a tenant that shortens its period shortens its finished jobs'.
- When the period ends, or when the owner deletes a job (DELETE /v1/jobs/{id}), the
  workers delete everything the service wrote for it (worker/retention.py): outputs and
  their revisions, manifest, work objects, kept dubs and translations, and the cached
  copies and analyses of its source. The source itself is the tenant's, and is never
  touched; the job row and its usage records stay, because the books are history.
- Deletion is marked (purge_started_at), done, then stamped (outputs_expired_at); a
  deletion cut short is finished by the next sweep, and every step can run twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from ltb.db.models import Job
from ltb.errors import RequestRefused

# About a century: longer is "forever", which is None.
MAX_RETENTION_DAYS = 36_500


def effective_days(job_days: int | None, tenant_days: int | None) -> int | None:
    """The job's keep period: the shorter of its own and its tenant's; None is forever."""
    periods = [days for days in (job_days, tenant_days) if days is not None]
    return min(periods) if periods else None


def check_job_retention(requested: int | None, tenant_days: int | None) -> int | None:
    """A job's requested period, refused when longer than its tenant's."""
    if requested is not None and tenant_days is not None and requested > tenant_days:
        raise RequestRefused(
            f"retention_days {requested} is longer than this tenant keeps outputs "
            f"({tenant_days} days); a job may only shorten it",
            code="retention_too_long",
        )
    return requested


def check_tenant_retention(days: int | None) -> int | None:
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise RequestRefused(
            f"retention days are 1 to {MAX_RETENTION_DAYS} (got {days}); "
            "use --keep-forever to keep outputs until deleted",
            code="invalid_retention",
        )
    return days


def expires_at(job: Job, tenant_days: int | None) -> datetime | None:
    """When the job's outputs are due for deletion; None while running or kept forever."""
    days = effective_days(job.retention_days, tenant_days)
    if days is None or job.finished_at is None:
        return None
    return job.finished_at + timedelta(days=days)


def outputs_gone(job: Job) -> bool:
    """Whether the job's outputs are deleted or being deleted: none is shown any more."""
    return any(
        moment is not None
        for moment in (job.deleted_at, job.purge_started_at, job.outputs_expired_at)
    )


def owns_output_folder(job: Job) -> bool:
    """Whether the job's output prefix is its own folder (the default, which ends in its
    id, unknowable before it was created): then everything under it was written for it."""
    return job.output_prefix.endswith(f"/{job.id}/")


def work_folder(work_prefix: str, job_id: uuid.UUID) -> str:
    """The folder of one job's work objects (chunk payloads, older dub audio)."""
    return f"{work_prefix.rstrip('/')}/{job_id}/"
