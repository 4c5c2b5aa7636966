"""The reaper fails as `stuck` a job that made no progress for LTB_STUCK_AFTER_S while its
own work was runnable and the fleet was idle; a job waiting behind other work is not."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from job_support import MakeContext, add_chunks, new_job, new_tenant, sent

from ltb.db.engine import unit_of_work
from ltb.db.models import Job
from ltb.queue import PLAN_JOB
from worker.reaper import reap

STUCK_AFTER_S = 600


def _job(ctx: Any, job_id: Any) -> Job:
    with unit_of_work(ctx.sessions) as session:
        return session.get_one(Job, job_id)


def _translating(ctx: Any, tenant: Any, *, chunk_status: str = "pending") -> Job:
    """A running job with one chunk in `chunk_status` and one done."""
    job = new_job(
        ctx.sessions, tenant, status="running", stage="translating", chunks_total=2, chunks_done=1
    )
    add_chunks(ctx.sessions, job, ("done", chunk_status), attempts=1)
    return job


def _age(database_url: str, job_id: uuid.UUID, seconds: float) -> None:
    """Moves the job's every timestamp, and its chunks', `seconds` into the past."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE jobs SET created_at = now() - make_interval(secs => %(s)s), "
            "updated_at = now() - make_interval(secs => %(s)s), "
            "progress_at = now() - make_interval(secs => %(s)s), "
            "started_at = now() - make_interval(secs => %(s)s) WHERE id = %(id)s",
            {"s": seconds, "id": job_id},
        )
        connection.execute(
            "UPDATE chunks SET updated_at = now() - make_interval(secs => %(s)s), "
            "started_at = CASE WHEN started_at IS NULL THEN NULL "
            "ELSE now() - make_interval(secs => %(s)s) END, "
            "finished_at = CASE WHEN status = 'done' THEN now() - make_interval(secs => %(s)s) END "
            "WHERE job_id = %(id)s",
            {"s": seconds, "id": job_id},
        )


def test_a_job_with_runnable_work_and_no_progress_on_an_idle_fleet_is_stuck(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx(stuck_after_s=STUCK_AFTER_S)
    tenant = new_tenant(ctx.sessions)
    unplanned = new_job(ctx.sessions, tenant, status="running", stage="probing")
    translating = _translating(ctx, tenant)
    recent = _translating(ctx, tenant)
    for job in (unplanned, translating):
        _age(database_url, job.id, STUCK_AFTER_S + 60)
    _age(database_url, recent.id, STUCK_AFTER_S - 60)

    sweep = reap(ctx)

    for job in (unplanned, translating):
        done = _job(ctx, job.id)
        assert (done.status, done.error_code) == ("failed", "stuck"), job.stage
    assert _job(ctx, recent.id).status == "running"
    assert sweep.failed_jobs == {unplanned.id: "stuck", translating.id: "stuck"}
    assert unplanned.id not in sweep.plans
    assert PLAN_JOB not in {name for name, _ in sent(ctx)}


def test_a_job_waiting_behind_other_work_is_not_stuck(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx(stuck_after_s=STUCK_AFTER_S)
    tenant, other_tenant = new_tenant(ctx.sessions), new_tenant(ctx.sessions)
    waiting = _translating(ctx, tenant)
    _age(database_url, waiting.id, STUCK_AFTER_S + 60)
    busy = _translating(ctx, other_tenant, chunk_status="running")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE chunks SET lease_until = now() + interval '5 minutes', "
            "started_at = now() - interval '2 hours' WHERE job_id = %s AND status = 'running'",
            (busy.id,),
        )
        connection.execute(
            "UPDATE jobs SET progress_at = now() - interval '2 hours' WHERE id = %s", (busy.id,)
        )

    # The workers are busy on another tenant's chunk: the waiting job's turn has not come.
    reap(ctx)
    assert _job(ctx, waiting.id).status == "running"
    assert _job(ctx, busy.id).status == "running"  # its own chunk is in flight

    # Tasks wait in the queue: the job may be behind them.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE chunks SET lease_until = now() - interval '1 second', "
            "status = 'done', finished_at = now() - interval '2 hours' "
            "WHERE job_id = %s",
            (busy.id,),
        )
    ctx.queue.send_task(PLAN_JOB, args=[str(uuid.uuid4())])
    reap(ctx)
    assert _job(ctx, waiting.id).status == "running"


def test_a_job_whose_state_leads_nowhere_is_stuck_even_on_a_busy_fleet(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx(stuck_after_s=STUCK_AFTER_S)
    tenant = new_tenant(ctx.sessions)
    # One chunk short of done, yet nothing pending or running: nothing will ever move it.
    orphan = _translating(ctx, tenant, chunk_status="cancelled")
    _age(database_url, orphan.id, STUCK_AFTER_S + 60)
    ctx.queue.send_task(PLAN_JOB, args=[str(uuid.uuid4())])  # the fleet has work

    reap(ctx)

    assert (_job(ctx, orphan.id).status, _job(ctx, orphan.id).error_code) == ("failed", "stuck")
