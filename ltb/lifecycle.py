"""The one way a job ends. Every terminal transition (succeeded, failed, cancelled,
estimated) goes through `finish_job`, which also writes the webhook events and counts
the job towards its batch, so none of those can be forgotten on some path."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

# Re-exported: the after-commit queue used to live here, and callers may still import it.
from ltb.db.engine import after_commit as after_commit
from ltb.db.models import Batch, Job, WebhookEvent
from ltb.lifecycle_repository import (
    add_finished_job,
    add_finished_jobs,
    cancel_active_jobs,
    close_batch,
    end_active_job,
    reopen_batch,
)
from ltb.states import JOB_ACTIVE, JOB_EVENTS, BatchStatus, EventType, JobStatus

# The statuses a job can still leave, for modules that imported them from here.
ACTIVE = JOB_ACTIVE

# Called with the id of each webhook event to deliver, from the session's after-commit queue.
Deliver = Callable[[uuid.UUID], None]


def finish_job(
    session: Session,
    job: Job,
    *,
    status: JobStatus | str,
    error: tuple[str, str] | None = None,
    deliver: Deliver | None = None,
) -> bool:
    """Ends an active job with `status`; False (and nothing changes) if it had already ended."""
    status = JobStatus(status)
    values: dict[str, object] = {"status": status, "finished_at": datetime.now(UTC)}
    if error is not None:
        values["error_code"], values["error_message"] = error
    # One conditional UPDATE: of two workers ending the same job, exactly one succeeds.
    if not end_active_job(session, job.id, values):
        return False
    session.refresh(job)
    if job.callback_url and status in JOB_EVENTS:
        _event(
            session,
            tenant_id=job.tenant_id,
            event=JOB_EVENTS[status],
            subject_id=job.id,
            url=job.callback_url,
            deliver=deliver,
        )
    if job.batch_id is not None:
        _count_towards_batch(session, job.batch_id, deliver=deliver)
    return True


def job_deleted(session: Session, job: Job, *, deliver: Deliver | None = None) -> None:
    """Tells the job's callback that its owner's deletion is done (ltb/retention.py)."""
    if job.callback_url:
        _event(
            session,
            tenant_id=job.tenant_id,
            event=EventType.JOB_DELETED,
            subject_id=job.id,
            url=job.callback_url,
            deliver=deliver,
        )


def reopened() -> dict[str, object]:
    """A retried job's columns: queued again, with a fresh budget of plan and finalize
    attempts and its progress clock restarted, so the retry is not failed for the
    attempts and the silence of the run that failed."""
    return {
        "status": JobStatus.QUEUED,
        "stage": None,
        "error_code": None,
        "error_message": None,
        "finished_at": None,
        "plan_attempts": 0,
        "finalize_attempts": 0,
        "progress_at": datetime.now(UTC),
        "heartbeat_at": None,
    }


def reopen_in_batch(session: Session, batch_id: uuid.UUID, jobs: int) -> None:
    """A retried job is unfinished again: the batch counts it again and is open."""
    reopen_batch(session, batch_id, jobs)


def _count_towards_batch(session: Session, batch_id: uuid.UUID, *, deliver: Deliver | None) -> None:
    # One atomic increment: of two jobs finishing together, exactly one sees the last.
    finished, total, status, callback, tenant_id = add_finished_job(session, batch_id)
    if finished < total:
        return
    close_batch(
        session,
        batch_id,
        completed_at=datetime.now(UTC),
        status=BatchStatus.CANCELLED if status == BatchStatus.CANCELLED else BatchStatus.COMPLETED,
    )
    if callback:
        _event(
            session,
            tenant_id=tenant_id,
            event=EventType.BATCH_COMPLETED,
            subject_id=batch_id,
            url=callback,
            deliver=deliver,
        )


def _event(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    event: EventType,
    subject_id: uuid.UUID,
    url: str,
    deliver: Deliver | None,
) -> None:
    """Writes an outbox row; receivers de-duplicate deliveries by its id."""
    row = WebhookEvent(tenant_id=tenant_id, event=event, subject_id=subject_id, url=url)
    session.add(row)
    session.flush()
    if deliver is not None:
        event_id = row.id
        after_commit(session, lambda: deliver(event_id))


def cancel_batch_jobs(session: Session, batch: Batch, *, deliver: Deliver | None = None) -> int:
    """Cancels every active job of a batch in a few statements (a batch may hold 10,000):
    the same effects as finish_job on each, done in bulk. Returns how many were cancelled."""
    now = datetime.now(UTC)
    ended = cancel_active_jobs(session, batch.id, status=JobStatus.CANCELLED, finished_at=now)
    for job_id, callback in ended:
        if callback:
            _event(
                session,
                tenant_id=batch.tenant_id,
                event=JOB_EVENTS[JobStatus.CANCELLED],
                subject_id=job_id,
                url=callback,
                deliver=deliver,
            )
    if ended:
        # All but one are counted at once; the last goes through the usual count, which
        # completes the batch if nothing else is left.
        add_finished_jobs(session, batch.id, len(ended) - 1)
        _count_towards_batch(session, batch.id, deliver=deliver)
    return len(ended)
