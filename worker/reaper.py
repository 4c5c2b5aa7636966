"""reap: the periodic sweep that keeps work moving when a worker dies or the broker
forgets, and that ends every job in bounded time. Postgres is the truth, so everything
the broker lost can be sent again; every task is idempotent, so sending twice is harmless.

- chunks whose lease expired (the holder was killed) go back to pending, or fail after
  too many claims (a chunk that kills every worker must not loop forever);
- admitted pending chunks and queued jobs are re-sent when the queue is empty but they
  have not moved for a while: their messages were lost (a Redis restart without
  persistence); chunks not admitted yet are the dispatcher's, which every sweep runs;
- jobs whose chunks are all done but which were never finalized are finalized again, and
  so are jobs whose finalize fell silent (no heartbeat for LTB_REAPER_STALE_S: its worker
  died); a plan or finalize that has used up its attempts fails the job instead;
- a job is failed as `stuck` when all of these hold at a sweep:
  1. it has made no progress for LTB_STUCK_AFTER_S. Progress is any movement: a stage
     entered, a plan recorded, a chunk of it claimed or finished;
  2. nothing of its own is in flight: no chunk of it runs on a live lease, and its plan
     or finalize has not beaten its heartbeat within LTB_REAPER_STALE_S;
  3. either it has no runnable work at all (its state leads nowhere), or its runnable
     work (a plan, pending chunks, a finalize) waits while the fleet is idle: no task
     waits in the queue and no other job has a chunk on a live lease or a beating plan
     or finalize. A job whose work waits behind other work (the queue holds messages, or
     the workers are busy on other jobs and their tenants' shares of the quota) is
     waiting its turn, not stuck; so is any job when the queue cannot be read.
  Failing a stuck job bills nothing: none of its chunks is running, and its finished
  chunks are kept for a retry;
- output revisions (cue edits, redone chunks) whose message was lost, or whose claim is
  older than the task time limit (its worker died), are sent again; a revision claimed
  too many times fails as `revision_abandoned`;
- scratch files that killed workers left on this machine are removed, and so are the
  work objects of jobs that ended without removing them (cancelled, or a finalize that
  died right after success).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ltb.db.engine import unit_of_work
from ltb.outputs import spoken
from ltb.queue import (
    DELIVER_WEBHOOK,
    FINALIZE_JOB,
    PLAN_JOB,
    PUBLISH_REVISION,
    TRANSLATE_CHUNK,
    queue_depth,
)
from ltb.states import FINALIZE_STAGES, PLAN_STAGES, ChunkStatus, JobStage, JobStatus
from worker import finalize_step, plan_step, revision_step, usage_repository, webhook_repository
from worker import repository as repo
from worker import sweep_repository as sweeps
from worker.cleanup import remove_finished_work, sweep_scratch
from worker.context import WorkerContext
from worker.dispatch import dispatch_quietly

log = logging.getLogger("ltb.worker.reaper")

# A chunk claimed this many times without finishing is failed rather than retried.
MAX_CLAIMS = 5
WEBHOOKS_PER_SWEEP = 1000
STUCK_PER_SWEEP = 1000


@dataclass
class Sweep:
    plans: list[uuid.UUID] = field(default_factory=list)
    chunks: list[uuid.UUID] = field(default_factory=list)
    finalizes: list[uuid.UUID] = field(default_factory=list)
    webhooks: list[uuid.UUID] = field(default_factory=list)
    failed_chunks: int = 0
    failed_jobs: dict[uuid.UUID, str] = field(default_factory=dict)
    # Output revisions (cue edits, redos) whose task was lost or died: (job id, revision).
    revisions: list[tuple[uuid.UUID, int]] = field(default_factory=list)


def reap(ctx: WorkerContext) -> Sweep:
    sweep = Sweep()
    settings = ctx.settings
    moment = repo.now()
    queue_empty = queue_depth(ctx.queue) == 0
    # Work that has not moved for this long while the queue is empty lost its message; a
    # plan or finalize whose heartbeat is this old lost its worker.
    stale = moment - timedelta(seconds=settings.reaper_stale_s)
    with unit_of_work(ctx.sessions) as session:
        revived: set[uuid.UUID] = set()
        for chunk, outputs in sweeps.expired_leases(session, moment):
            usage_repository.abandon_pending_records(
                session, chunk, dubbed=spoken(outputs), price_table=ctx.prices.current()
            )
            if chunk.attempts >= MAX_CLAIMS:
                chunk.status, chunk.error_code = ChunkStatus.FAILED, "chunk_abandoned"
                chunk.error_message = f"claimed {chunk.attempts} times without finishing"
                repo.fail_job(
                    session,
                    chunk.job_id,
                    code="chunk_abandoned",
                    message=chunk.error_message,
                    deliver=ctx.deliver_webhook,
                )
                sweep.failed_chunks += 1
            else:
                chunk.status, chunk.lease_until, chunk.lease_owner = ChunkStatus.PENDING, None, None
                chunk.admitted_at = chunk.admitted_at or moment  # re-sent below, still in flight
                sweep.chunks.append(chunk.id)
                revived.add(chunk.job_id)
        _fail_exhausted(ctx, session, sweep, stale)
        _fail_stuck(ctx, session, sweep, moment, queue_empty=queue_empty, skip=revived)
        ended = set(sweep.failed_jobs)
        if queue_empty:
            sweep.chunks += sweeps.lost_chunks(session, stale)
            sweep.plans += sweeps.lost_plans(session, stale)
            sweep.finalizes += sweeps.lost_finalizes(session, stale)
        sweep.finalizes += sweeps.take_back_stalled_finalizes(session, stale)
        sweep.revisions = revision_step.resend_lost(ctx, session, queue_empty=queue_empty)
        # Webhooks whose next attempt is due (first sends go out at once after the commit).
        sweep.webhooks += webhook_repository.due_event_ids(
            session, moment, limit=WEBHOOKS_PER_SWEEP
        )
        sweep.plans = [job_id for job_id in sweep.plans if job_id not in ended]
        sweep.finalizes = [job_id for job_id in sweep.finalizes if job_id not in ended]
        # Touch what is re-sent, so the next sweep does not send it again straight away.
        sweeps.touch(
            session, moment, chunk_ids=sweep.chunks, job_ids=[*sweep.plans, *sweep.finalizes]
        )
    for job_id in sweep.plans:
        ctx.queue.send_task(PLAN_JOB, args=[str(job_id)])
    for chunk_id in dict.fromkeys(sweep.chunks):
        ctx.queue.send_task(TRANSLATE_CHUNK, args=[str(chunk_id)])
    for job_id in dict.fromkeys(sweep.finalizes):
        ctx.queue.send_task(FINALIZE_JOB, args=[str(job_id)])
    for event_id in sweep.webhooks:
        ctx.queue.send_task(DELIVER_WEBHOOK, args=[str(event_id)])
    for job_id, revision in sweep.revisions:
        ctx.queue.send_task(PUBLISH_REVISION, args=[str(job_id), revision])
    if sweep.chunks or sweep.plans or sweep.finalizes or sweep.failed_chunks or sweep.failed_jobs:
        log.info(
            "reaped: %d chunks re-sent, %d plans, %d finalizes, %d chunks failed, %d jobs failed",
            len(sweep.chunks),
            len(sweep.plans),
            len(sweep.finalizes),
            sweep.failed_chunks,
            len(sweep.failed_jobs),
        )
    # Admits what lost its dispatcher (a worker that died between a chunk and the next
    # admission, a cancel that freed slots) while the window has room.
    dispatch_quietly(ctx)
    try:
        sweep_scratch(settings)
        remove_finished_work(ctx)
    except Exception:
        log.warning("could not clean up after finished work", exc_info=True)
    return sweep


def _fail_exhausted(ctx: WorkerContext, session: Session, sweep: Sweep, stale: datetime) -> None:
    """Fails jobs whose plan or finalize fell silent on its last allowed attempt, rather
    than sending it once more."""
    settings = ctx.settings
    exhausted = (
        (
            plan_step.abandoned(settings.plan_max_attempts),
            sweeps.exhausted_plans(session, stale, max_attempts=settings.plan_max_attempts),
        ),
        (
            finalize_step.abandoned(settings.finalize_max_attempts),
            sweeps.exhausted_finalizes(session, stale, max_attempts=settings.finalize_max_attempts),
        ),
    )
    for error, job_ids in exhausted:
        for job_id in job_ids:
            repo.fail_job(
                session, job_id, code=error.code, message=error.message, deliver=ctx.deliver_webhook
            )
            sweep.failed_jobs[job_id] = error.code


def _fail_stuck(
    ctx: WorkerContext,
    session: Session,
    sweep: Sweep,
    moment: datetime,
    *,
    queue_empty: bool,
    skip: set[uuid.UUID],
) -> None:
    """Fails the jobs the module's rule calls stuck."""
    settings = ctx.settings
    idle_since = moment - timedelta(seconds=settings.stuck_after_s)
    alive = moment - timedelta(seconds=settings.reaper_stale_s)
    candidates = [
        row
        for row in sweeps.stuck_candidates(
            session, moment, idle_since=idle_since, alive=alive, limit=STUCK_PER_SWEEP
        )
        if row.id not in skip and row.id not in sweep.failed_jobs
    ]
    if not candidates:
        return
    fleet_idle = queue_empty and not sweeps.work_in_flight(session, moment, alive)
    for job_id, status, stage, done, total, pending in candidates:
        runnable = (
            status == JobStatus.QUEUED
            or (stage or "") in ("", *PLAN_STAGES)
            or pending
            or (stage == JobStage.TRANSLATING and done >= total)
            or stage in FINALIZE_STAGES  # a silent finalize is sent again
        )
        if runnable and not fleet_idle:
            continue  # waiting its turn behind other work
        minutes = settings.stuck_after_s / 60
        repo.fail_job(
            session,
            job_id,
            code="stuck",
            message=f"the job made no progress for {minutes:g} minutes while "
            + ("the fleet was idle" if runnable else "nothing of it could run")
            + "; retry it, and see the worker log",
            deliver=ctx.deliver_webhook,
        )
        sweep.failed_jobs[job_id] = "stuck"
