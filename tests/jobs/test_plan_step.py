"""plan: bounded attempts, storage errors by class, a heartbeat while it fetches, and a
duplicate plan that never disturbs a job being finalized."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from job_support import MakeContext, new_job, new_tenant, purge, sent, upload

from ltb.db.engine import unit_of_work
from ltb.db.models import Job
from ltb.errors import LtbError
from ltb.queue import PLAN_JOB, TRANSLATE_CHUNK
from ltb.storage import S3Store
from worker.locks import source_lock
from worker.plan_step import plan_job
from worker.reaper import reap

from support.library import MediaLibrary
from support.s3 import dummy_session
from support.s3_faults import faulty_s3


def _faulty_store(endpoint: str) -> S3Store:
    return S3Store(endpoint_url=endpoint, max_attempts=1, session=dummy_session())


def _job(ctx: Any, job_id: Any) -> Job:
    with unit_of_work(ctx.sessions) as session:
        return session.get_one(Job, job_id)


def test_a_permanent_storage_error_fails_the_job_at_once(make_ctx: MakeContext) -> None:
    with faulty_s3(400, "InvalidRequest") as (endpoint, _fault):
        ctx = make_ctx(store=_faulty_store(endpoint))
        job = new_job(ctx.sessions, new_tenant(ctx.sessions))

        plan_job(ctx, job.id)  # returns: nothing to retry

    done = _job(ctx, job.id)
    assert (done.status, done.error_code) == ("failed", "storage_rejected")


def test_transient_storage_errors_fail_the_job_once_the_plan_attempts_are_used_up(
    make_ctx: MakeContext,
) -> None:
    with faulty_s3(503, "SlowDown") as (endpoint, _fault):
        ctx = make_ctx(store=_faulty_store(endpoint), plan_max_attempts=3)
        job = new_job(ctx.sessions, new_tenant(ctx.sessions))
        for _ in range(2):
            with pytest.raises(LtbError) as caught:
                plan_job(ctx, job.id)  # raised: the reaper sends the plan again
            assert caught.value.code == "storage_error"
            assert _job(ctx, job.id).status == "running"

        plan_job(ctx, job.id)

    done = _job(ctx, job.id)
    assert (done.status, done.error_code) == ("failed", "storage_error")
    assert "after 3 attempts" in (done.error_message or "")


def test_a_plan_that_keeps_dying_ends_as_plan_abandoned(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx(plan_max_attempts=2, reaper_stale_s=5)
    tenant = new_tenant(ctx.sessions)
    # Two plans started and died mid-probe (no error, no heartbeat since): one redelivered
    # message, and one job the reaper finds silent.
    redelivered = new_job(ctx.sessions, tenant, status="running", stage="probing")
    silent = new_job(ctx.sessions, tenant, status="running", stage="probing")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE jobs SET plan_attempts = 2, heartbeat_at = now() - interval '1 hour', "
            "updated_at = now() - interval '1 hour'"
        )

    plan_job(ctx, redelivered.id)
    sweep = reap(ctx)

    for job_id in (redelivered.id, silent.id):
        done = _job(ctx, job_id)
        assert (done.status, done.error_code) == ("failed", "plan_abandoned")
    assert silent.id not in sweep.plans
    assert [name for name, _ in sent(ctx) if name == PLAN_JOB] == []


def test_a_duplicate_plan_leaves_a_finalizing_job_alone(
    make_ctx: MakeContext, media: MediaLibrary
) -> None:
    ctx = make_ctx()
    tenant = new_tenant(ctx.sessions)
    job = new_job(ctx.sessions, tenant)
    upload(ctx.store, job.source_uri, media.speech_mp3)
    plan_job(ctx, job.id)
    with unit_of_work(ctx.sessions) as session:
        row = session.get_one(Job, job.id)
        row.stage, row.chunks_done = "assembling", row.chunks_total  # a finalize holds it
    purge(ctx)

    plan_job(ctx, job.id)  # the duplicate: its message came back after a lost ack

    assert _job(ctx, job.id).stage == "assembling"
    assert sent(ctx) == []


def test_a_long_fetch_beats_so_an_idle_fleet_does_not_send_the_plan_again(
    make_ctx: MakeContext, media: MediaLibrary
) -> None:
    stale_s = 1.0
    ctx = make_ctx(reaper_stale_s=stale_s)
    tenant = new_tenant(ctx.sessions)
    job = new_job(ctx.sessions, tenant)
    upload(ctx.store, job.source_uri, media.speech_mp3)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            plan_job(ctx, job.id)
        except BaseException as exc:  # noqa: BLE001  (reported by the test, not lost in the thread)
            failures.append(exc)

    planner = threading.Thread(target=run)
    # Another plan of the same source holds its lock: this one waits, as in a long fetch.
    with source_lock(ctx, tenant.id, job.source_uri):
        planner.start()
        deadline = time.monotonic() + 30
        while _job(ctx, job.id).stage != "fetching":
            assert time.monotonic() < deadline, "the plan never started fetching"
            time.sleep(0.05)
        entered = time.monotonic()
        # Let three stale periods pass with the plan still waiting; the reaper sweeps.
        resent: list[Any] = []
        while time.monotonic() < entered + 3 * stale_s:
            time.sleep(0.2)
            resent += reap(ctx).plans
        assert _job(ctx, job.id).stage == "fetching"
    planner.join(timeout=120)

    assert not failures
    assert resent == []
    assert [name for name, _ in sent(ctx) if name == PLAN_JOB] == []
    assert {name for name, _ in sent(ctx)} <= {TRANSLATE_CHUNK}
    assert _job(ctx, job.id).stage == "translating"
