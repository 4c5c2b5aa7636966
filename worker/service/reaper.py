"""reap: the periodic sweep that keeps work moving when a worker dies or the broker
forgets. Postgres is the truth, so everything the broker lost can be sent again; every
task is idempotent, so sending twice is harmless.

- chunks whose lease expired (the holder was killed) go back to pending, or fail after
  too many claims (a chunk that kills every worker must not loop forever);
- pending chunks and queued jobs are re-sent when the queue is empty but they have not
  moved for a while: their messages were lost (a Redis restart without persistence);
- jobs whose chunks are all done but which were never finalized, or whose finalize
  stalled, are finalized again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, func, select, update

from ltb.db.engine import unit_of_work
from ltb.db.models import Chunk, Job, WebhookEvent
from ltb.queue import DELIVER_WEBHOOK, FINALIZE_JOB, PLAN_JOB, TRANSLATE_CHUNK, queue_depth
from worker.service import repository as repo
from worker.service.context import WorkerContext

log = logging.getLogger("ltb.worker.reaper")

# A chunk claimed this many times without finishing is failed rather than retried.
MAX_CLAIMS = 5
WEBHOOKS_PER_SWEEP = 1000


@dataclass
class Sweep:
    plans: list[uuid.UUID] = field(default_factory=list)
    chunks: list[uuid.UUID] = field(default_factory=list)
    finalizes: list[uuid.UUID] = field(default_factory=list)
    webhooks: list[uuid.UUID] = field(default_factory=list)
    failed_chunks: int = 0


def reap(ctx: WorkerContext) -> Sweep:
    sweep = Sweep()
    moment = repo.now()
    queue_empty = queue_depth(ctx.queue) == 0
    # Work that has not moved for this long while the queue is empty lost its message.
    stale = moment - timedelta(seconds=ctx.settings.reaper_stale_s)
    finalize_stall = moment - timedelta(seconds=ctx.settings.task_time_limit_s + 60)
    with unit_of_work(ctx.sessions) as session:
        expired = list(
            session.execute(
                select(Chunk, Job.outputs)
                .join(Job, Job.id == Chunk.job_id)
                .where(Chunk.status == "running", Chunk.lease_until < moment)
                .with_for_update(of=Chunk, skip_locked=True)
            ).all()
        )
        for chunk, outputs in expired:
            repo.abandon_pending_records(
                session, chunk, dubbed="wav" in outputs, price_table=ctx.prices.current()
            )
            if chunk.attempts >= MAX_CLAIMS:
                chunk.status, chunk.error_code = "failed", "chunk_abandoned"
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
                chunk.status, chunk.lease_until, chunk.lease_owner = "pending", None, None
                sweep.chunks.append(chunk.id)
        if queue_empty:
            sweep.chunks += session.scalars(
                select(Chunk.id)
                .join(Job, Job.id == Chunk.job_id)
                .where(Chunk.status == "pending", Chunk.updated_at < stale, Job.status == "running")
            )
            sweep.plans += session.scalars(
                select(Job.id).where(
                    Job.updated_at < stale,
                    (Job.status == "queued")
                    | (
                        (Job.status == "running")
                        & func.coalesce(Job.stage, "").in_(("", "fetching", "probing", "planning"))
                    ),
                )
            )
            sweep.finalizes += session.scalars(
                select(Job.id).where(
                    Job.status == "running",
                    Job.stage == "translating",
                    Job.chunks_done >= Job.chunks_total,
                    Job.updated_at < stale,
                )
            )
        stalled = list(
            session.scalars(
                select(Job.id).where(
                    Job.status == "running",
                    Job.stage.in_(("assembling", "publishing")),
                    Job.updated_at < finalize_stall,
                )
            )
        )
        if stalled:
            session.execute(
                update(Job).where(and_(Job.id.in_(stalled))).values(stage="translating")
            )
            sweep.finalizes += stalled
        # Webhooks whose next attempt is due (first sends go out at once after the commit).
        sweep.webhooks += session.scalars(
            select(WebhookEvent.id)
            .where(WebhookEvent.status == "pending", WebhookEvent.next_attempt_at <= moment)
            .order_by(WebhookEvent.next_attempt_at)
            .limit(WEBHOOKS_PER_SWEEP)
        )
        # Touch what is re-sent, so the next sweep does not send it again straight away.
        if sweep.chunks:
            session.execute(
                update(Chunk).where(Chunk.id.in_(sweep.chunks)).values(updated_at=moment)
            )
        if sweep.plans or sweep.finalizes:
            session.execute(
                update(Job)
                .where(Job.id.in_([*sweep.plans, *sweep.finalizes]))
                .values(updated_at=moment)
            )
    for job_id in sweep.plans:
        ctx.queue.send_task(PLAN_JOB, args=[str(job_id)])
    for chunk_id in dict.fromkeys(sweep.chunks):
        ctx.queue.send_task(TRANSLATE_CHUNK, args=[str(chunk_id)])
    for job_id in dict.fromkeys(sweep.finalizes):
        ctx.queue.send_task(FINALIZE_JOB, args=[str(job_id)])
    for event_id in sweep.webhooks:
        ctx.queue.send_task(DELIVER_WEBHOOK, args=[str(event_id)])
    if sweep.chunks or sweep.plans or sweep.finalizes or sweep.failed_chunks:
        log.info(
            "reaped: %d chunks re-sent, %d plans, %d finalizes, %d chunks failed",
            len(sweep.chunks),
            len(sweep.plans),
            len(sweep.finalizes),
            sweep.failed_chunks,
        )
    return sweep
