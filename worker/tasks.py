"""The Celery tasks. Each is a few lines: it names the row to look at and calls a step.

Run them with `ltb worker`; `ltb beat` (or `ltb worker --beat` on a single node) sends
the reaper every LTB_REAPER_INTERVAL_S.
"""

from __future__ import annotations

import uuid

from ltb.queue import (
    DELIVER_WEBHOOK,
    DISPATCH_BATCH,
    FINALIZE_JOB,
    PLAN_JOB,
    REAP,
    TRANSLATE_CHUNK,
    make_celery,
)
from worker.service import batch_step, chunk_step, finalize_step, plan_step, reaper, webhook_step
from worker.service.context import worker_context

app = make_celery()


@app.task(name=PLAN_JOB)
def plan_job(job_id: str) -> None:
    plan_step.plan_job(worker_context(), uuid.UUID(job_id))


@app.task(name=TRANSLATE_CHUNK)
def translate_chunk(chunk_id: str) -> None:
    chunk_step.run_chunk(worker_context(), uuid.UUID(chunk_id))


@app.task(name=FINALIZE_JOB)
def finalize_job(job_id: str) -> None:
    finalize_step.finalize_job(worker_context(), uuid.UUID(job_id))


@app.task(name=DISPATCH_BATCH)
def dispatch_batch(batch_id: str) -> None:
    batch_step.dispatch_batch(worker_context(), uuid.UUID(batch_id))


@app.task(name=DELIVER_WEBHOOK)
def deliver_webhook(event_id: str) -> None:
    webhook_step.deliver(worker_context(), uuid.UUID(event_id))


@app.task(name=REAP)
def reap() -> None:
    reaper.reap(worker_context())
