"""Two retries of the same failed job at once, in two real Postgres transactions.

The second transaction is started while the first holds its row locks, and the first
commits only once Postgres reports the second waiting for a lock: the interleaving is
forced, not left to timing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from api.batches import service as batches
from api.context import UnitOfWork
from api.errors import ApiError
from api.jobs import service as jobs
from ltb.db.models import Batch, Job, Tenant
from ltb.lifecycle import finish_job
from ltb.queue import make_celery
from ltb.settings import Settings

Retry = Callable[[UnitOfWork, Tenant, Job], object]


def _retry_job(uow: UnitOfWork, tenant: Tenant, job: Job) -> object:
    return jobs.retry(uow, tenant=tenant, job_id=job.id)


def _retry_batch(uow: UnitOfWork, tenant: Tenant, job: Job) -> object:
    assert job.batch_id is not None
    _, reopened = batches.retry_failed(uow, tenant=tenant, batch_id=job.batch_id)
    if not reopened:
        raise ApiError(409, "nothing_reopened", "no failed job left to retry")
    return reopened


@pytest.fixture
def failed_batch_job(engine: Engine) -> Iterator[tuple[uuid.UUID, uuid.UUID]]:
    """A committed tenant whose completed batch of two jobs holds one failed job."""
    with Session(engine) as session:
        tenant = Tenant(name=f"race-{uuid.uuid4().hex[:8]}", read_prefixes=["s3://media/r/"])
        session.add(tenant)
        session.flush()
        batch = Batch(tenant_id=tenant.id, target_langs=["en"], jobs_total=2)
        session.add(batch)
        session.flush()
        made = [
            Job(
                tenant_id=tenant.id,
                batch_id=batch.id,
                source_uri=f"s3://media/r/{n}.mp3",
                target_lang="en",
                outputs=["text"],
                output_prefix=f"s3://out/r/{n}/",
                status="running",
            )
            for n in range(2)
        ]
        session.add_all(made)
        session.flush()
        finish_job(session, made[0], status="succeeded")
        finish_job(session, made[1], status="failed", error=("provider_rejected", "x"))
        session.commit()
        ids = (tenant.id, made[1].id)
    yield ids
    with Session(engine) as session:
        session.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": ids[0]})
        session.commit()


def _unit_of_work(session: Session, settings: Settings) -> UnitOfWork:
    return UnitOfWork(session=session, queue=make_celery(settings))


def _wait_until_waiting_for_a_lock(engine: Engine, pid: int) -> None:
    deadline = time.monotonic() + 30
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
            watcher.rollback()
            if waiting == "Lock":
                return
            time.sleep(0.02)
    raise TimeoutError("the second retry never waited for the first one's lock")


@pytest.mark.parametrize(
    ("first", "second"),
    [(_retry_job, _retry_job), (_retry_batch, _retry_job), (_retry_job, _retry_batch)],
    ids=["job-job", "batch-job", "job-batch"],
)
def test_of_two_concurrent_retries_exactly_one_reopens_the_job(
    engine: Engine,
    settings: Settings,
    failed_batch_job: tuple[uuid.UUID, uuid.UUID],
    first: Retry,
    second: Retry,
) -> None:
    tenant_id, job_id = failed_batch_job
    with Session(engine) as one, Session(engine) as two:
        tenant = one.get_one(Tenant, tenant_id)
        job = one.get_one(Job, job_id)
        first(_unit_of_work(one, settings), tenant, job)  # holds the job's row lock
        pid = two.execute(text("SELECT pg_backend_pid()")).scalar_one()
        tenant_two = two.get_one(Tenant, tenant_id)
        job_two = two.get_one(Job, job_id)
        with ThreadPoolExecutor(max_workers=1) as pool:
            racing = pool.submit(second, _unit_of_work(two, settings), tenant_two, job_two)
            _wait_until_waiting_for_a_lock(engine, pid)
            one.commit()
            with pytest.raises(ApiError) as refused:
                racing.result(timeout=30)
        two.rollback()
    assert refused.value.status == 409
    with Session(engine) as session:
        batch = session.scalars(select(Batch).where(Batch.tenant_id == tenant_id)).one()
        assert (batch.jobs_finished, batch.status) == (1, "open")
        assert session.get_one(Job, job_id).status == "queued"
