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

from sqlalchemy.orm import Session

from ltb.db.models import Batch, Job
from ltb.fair_share_repository import (
    booked_tokens_since,
    last_active_job,
    ordered_up_to,
    planned_work,
    unfinished_work,
    weights,
)
from ltb.settings import get_settings
from ltb.states import JOB_ACTIVE

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
    return booked_tokens_since(session, tenant_id, month_start(moment))


# --- the ETA ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Work:
    tokens: float
    requests: float


def _share(session: Session, tenant_id: uuid.UUID) -> float:
    """The tenant's weight over the weights of every tenant with unfinished work, itself included."""
    own, total = weights(session, tenant_id)
    return float(own) / float(total)


def _work_ahead(session: Session, job: Job) -> Work | None:
    """The tenant's unfinished work ordered before or with `job`; None if none of it is
    planned and nothing tells what an unplanned job costs."""
    key = ordered_up_to(job.priority, job.created_at, job.id)
    tokens, requests, unplanned = unfinished_work(session, job.tenant_id, key)
    if not unplanned:
        return Work(tokens=tokens, requests=float(requests))
    planned_jobs, all_tokens, all_requests = planned_work(session, job.tenant_id)
    if not planned_jobs:
        return None
    return Work(
        tokens=tokens + unplanned * all_tokens / planned_jobs,
        requests=requests + unplanned * all_requests / planned_jobs,
    )


def _seconds(session: Session, tenant_id: uuid.UUID, work: Work) -> float:
    settings = get_settings()
    share = _share(session, tenant_id)
    tokens_per_s = share * settings.quota_tpm * settings.quota_headroom / 60
    requests_per_s = share * settings.quota_rpm / 60
    return round(max(work.tokens / tokens_per_s, work.requests / requests_per_s), 1)


def job_eta_s(session: Session, job: Job) -> float | None:
    """Seconds until the job should finish: 0 once it has ended, None while nothing says
    what it costs (not planned, and no planned job of its tenant to go by)."""
    if job.status not in JOB_ACTIVE:
        return 0.0
    work = _work_ahead(session, job)
    return None if work is None else _seconds(session, job.tenant_id, work)


def batch_eta_s(session: Session, batch: Batch) -> float | None:
    """Seconds until the batch's last job should finish, as for that job."""
    last = last_active_job(session, batch.id)
    return 0.0 if last is None else job_eta_s(session, last)
