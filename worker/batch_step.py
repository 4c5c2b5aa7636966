"""dispatch a batch: send the plan task of each of its queued jobs, a page at a time, to
the batch plan queue (a single job's plan, in the plan queue, is taken in turn with them).

The API only records a batch's jobs (in bulk) and sends this one task, so a batch of
10,000 jobs is accepted in seconds; the plan messages follow from here.
"""

from __future__ import annotations

import uuid

from ltb.queue import BATCH_PLAN_QUEUE, PLAN_JOB
from worker import repository as repo
from worker.context import WorkerContext

PAGE = 1000


def dispatch_batch(ctx: WorkerContext, batch_id: uuid.UUID) -> int:
    """Sends PLAN_JOB for every queued job of the batch; returns how many were sent."""
    sent = 0
    after: uuid.UUID | None = None
    while True:
        with ctx.sessions() as session:
            ids = repo.queued_job_ids(session, batch_id, after=after, limit=PAGE)
        for job_id in ids:
            ctx.queue.send_task(PLAN_JOB, args=[str(job_id)], queue=BATCH_PLAN_QUEUE)
        sent += len(ids)
        if len(ids) < PAGE:
            return sent
        after = ids[-1]
