"""The Celery tasks. Each is a few lines: it names the row to look at and calls a step.

Run them with `ltb worker`; `ltb beat` (or `ltb worker --beat` on a single node) sends
the reaper every LTB_REAPER_INTERVAL_S.
"""

from __future__ import annotations

import uuid

from billiard.process import active_children
from celery.signals import task_prerun, worker_process_init, worker_shutting_down

from ltb.queue import (
    DELIVER_WEBHOOK,
    DISPATCH_BATCH,
    EXPIRE_OUTPUTS,
    FINALIZE_JOB,
    PLAN_JOB,
    PUBLISH_REVISION,
    PURGE_JOB,
    REAP,
    TRANSLATE_CHUNK,
    make_celery,
)
from ltb.settings import get_settings
from worker import (
    batch_step,
    chunk_step,
    dispatch,
    finalize_step,
    plan_step,
    reaper,
    retention,
    revision_step,
    shutdown,
    webhook_step,
)
from worker.context import worker_context

app = make_celery()


@worker_process_init.connect
def _pool_process_started(**_: object) -> None:
    shutdown.ignore_until_installed()


@task_prerun.connect
def _task_starting(**_: object) -> None:
    shutdown.install_in_pool_process(get_settings().warm_shutdown_s)


@worker_shutting_down.connect
def _worker_shutting_down(**_: object) -> None:
    # Celery runs this in the main process's signal handler; the pool processes (not the
    # embedded beat, which Celery stops itself) start their grace now.
    children = [p for p in active_children() if p.pid]
    shutdown.pass_on_to_pool([p.pid for p in children if "PoolWorker" in (p.name or "") and p.pid])
    shutdown.exit_at_the_latest(
        get_settings().warm_shutdown_s + shutdown.EXIT_MARGIN_S,
        [p.pid for p in children if p.pid],
    )


@app.task(name=PLAN_JOB)
def plan_job(job_id: str) -> None:
    plan_step.plan_job(worker_context(), uuid.UUID(job_id))


@app.task(name=TRANSLATE_CHUNK)
def translate_chunk(chunk_id: str) -> None:
    ctx = worker_context()
    try:
        chunk_step.run_chunk(ctx, uuid.UUID(chunk_id))
    finally:
        # However the chunk ended, its slot in the window is free: admit the next fair one.
        dispatch.dispatch_quietly(ctx)


@app.task(name=FINALIZE_JOB)
def finalize_job(job_id: str) -> None:
    finalize_step.finalize_job(worker_context(), uuid.UUID(job_id))


@app.task(name=PUBLISH_REVISION)
def publish_revision(job_id: str, revision: int) -> None:
    revision_step.publish_revision(worker_context(), uuid.UUID(job_id), int(revision))


@app.task(name=DISPATCH_BATCH)
def dispatch_batch(batch_id: str) -> None:
    batch_step.dispatch_batch(worker_context(), uuid.UUID(batch_id))


@app.task(name=DELIVER_WEBHOOK)
def deliver_webhook(event_id: str) -> None:
    webhook_step.deliver(worker_context(), uuid.UUID(event_id))


@app.task(name=REAP)
def reap() -> None:
    reaper.reap(worker_context())


@app.task(name=PURGE_JOB)
def purge_job(job_id: str) -> None:
    retention.purge_requested(worker_context(), uuid.UUID(job_id))


@app.task(name=EXPIRE_OUTPUTS)
def expire_outputs() -> None:
    retention.expire_due(worker_context())
