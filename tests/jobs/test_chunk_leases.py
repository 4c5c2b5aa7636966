"""Claims, leases, the reaper's lease sweep and the done-count, called directly on a fresh
Postgres with no worker process: two workers never own one chunk, a lost lease loses the
right to finish, an expired lease is handed out again until a chunk has been claimed too
often, and exactly one caller sees a job's last chunk finish."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psycopg
from job_support import MakeContext, add_chunks, new_job, new_tenant, sent

from ltb.db.engine import unit_of_work
from ltb.db.models import Chunk, Job, UsageRecord
from ltb.queue import TRANSLATE_CHUNK
from ltb.states import ChunkStatus, JobStatus
from worker import repository as repo
from worker.reaper import MAX_CLAIMS, reap

from support.factories import UsageRecordFactory, bind_factories

LEASE_S = 60.0


def _running_job(ctx: Any, *, chunks: int = 1, status: str = JobStatus.RUNNING) -> Job:
    return new_job(
        ctx.sessions,
        new_tenant(ctx.sessions),
        status=status,
        stage="translating",
        chunks_total=chunks,
    )


def _pending_chunk(ctx: Any, *, job_status: str = JobStatus.RUNNING) -> uuid.UUID:
    """The one pending chunk of a new job in `job_status`."""
    (chunk_id,) = add_chunks(ctx.sessions, _running_job(ctx, status=job_status), ["pending"])
    return chunk_id


def _claimed_chunk(ctx: Any, database_url: str | None = None) -> uuid.UUID:
    """A chunk claimed by worker-a; its lease already ran out when `database_url` is given."""
    chunk_id = _pending_chunk(ctx)
    assert _claim(ctx, chunk_id, "worker-a") is not None
    if database_url is not None:
        _expire(database_url, chunk_id)
    return chunk_id


def _chunk(ctx: Any, chunk_id: uuid.UUID) -> Chunk:
    with unit_of_work(ctx.sessions) as session:
        return session.get_one(Chunk, chunk_id)


def _claim(ctx: Any, chunk_id: uuid.UUID, owner: str) -> Chunk | None:
    with unit_of_work(ctx.sessions) as session:
        return repo.claim_chunk(session, chunk_id, owner=owner, lease_s=LEASE_S)


def _expire(database_url: str, chunk_id: uuid.UUID) -> None:
    """The holder stopped renewing: its lease ran out a moment ago."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE chunks SET lease_until = now() - interval '1 second' WHERE id = %s",
            (chunk_id,),
        )


def test_a_pending_chunk_of_a_running_job_is_claimed_with_a_lease(make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    chunk_id = _pending_chunk(ctx)

    claimed = _claim(ctx, chunk_id, "worker-a")

    assert claimed is not None
    assert (claimed.status, claimed.lease_owner, claimed.attempts) == (
        ChunkStatus.RUNNING,
        "worker-a",
        1,
    )
    assert claimed.lease_until is not None and claimed.lease_until > repo.now()


def test_a_chunk_on_a_live_lease_is_refused_to_another_worker(make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    chunk_id = _claimed_chunk(ctx)

    assert _claim(ctx, chunk_id, "worker-b") is None
    assert _chunk(ctx, chunk_id).lease_owner == "worker-a"


def test_a_chunk_whose_lease_expired_is_claimed_again_and_the_claim_counted(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx()
    chunk_id = _claimed_chunk(ctx, database_url)

    claimed = _claim(ctx, chunk_id, "worker-b")

    assert claimed is not None
    assert (claimed.lease_owner, claimed.attempts) == ("worker-b", 2)


def test_no_chunk_is_claimed_unless_its_job_is_running(make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    for status in (JobStatus.QUEUED, JobStatus.CANCELLED, JobStatus.FAILED):
        chunk_id = _pending_chunk(ctx, job_status=status)

        assert _claim(ctx, chunk_id, "worker-a") is None, status
        assert _chunk(ctx, chunk_id).status == ChunkStatus.PENDING


def test_only_the_holder_renews_a_lease_and_a_released_chunk_is_pending_again(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx()
    chunk_id = _claimed_chunk(ctx, database_url)
    expired_at = _chunk(ctx, chunk_id).lease_until
    assert expired_at is not None

    with unit_of_work(ctx.sessions) as session:
        assert not repo.renew_lease(session, chunk_id, owner="worker-b", lease_s=LEASE_S)
        assert repo.renew_lease(session, chunk_id, owner="worker-a", lease_s=LEASE_S)
    renewed_until = _chunk(ctx, chunk_id).lease_until
    assert isinstance(renewed_until, datetime) and renewed_until > repo.now() > expired_at

    with unit_of_work(ctx.sessions) as session:
        repo.release_lease(session, chunk_id, owner="worker-b")  # not its lease: no effect
    assert _chunk(ctx, chunk_id).status == ChunkStatus.RUNNING
    with unit_of_work(ctx.sessions) as session:
        repo.release_lease(session, chunk_id, owner="worker-a")
    released = _chunk(ctx, chunk_id)
    assert (released.status, released.lease_owner, released.lease_until) == (
        ChunkStatus.PENDING,
        None,
        None,
    )
    with unit_of_work(ctx.sessions) as session:
        assert not repo.renew_lease(session, chunk_id, owner="worker-a", lease_s=LEASE_S)


def test_a_worker_that_lost_its_lease_to_another_cannot_finish_the_chunk(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx()
    chunk_id = _claimed_chunk(ctx, database_url)
    assert _claim(ctx, chunk_id, "worker-b") is not None

    with unit_of_work(ctx.sessions) as session:
        for or_pending in (False, True):
            assert not repo.finish_chunk(
                session,
                chunk_id,
                owner="worker-a",
                or_pending=or_pending,
                status=ChunkStatus.DONE,
                result_text="late",
            )
    chunk = _chunk(ctx, chunk_id)
    assert (chunk.status, chunk.lease_owner, chunk.result_text) == (
        ChunkStatus.RUNNING,
        "worker-b",
        None,
    )

    with unit_of_work(ctx.sessions) as session:
        assert repo.finish_chunk(
            session, chunk_id, owner="worker-b", status=ChunkStatus.DONE, result_text="Hi."
        )
    assert _chunk(ctx, chunk_id).status == ChunkStatus.DONE


def test_a_reply_in_hand_is_kept_when_the_lease_was_lost_but_nobody_claimed_since(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx()
    chunk_id = _claimed_chunk(ctx)
    with unit_of_work(ctx.sessions) as session:
        repo.release_lease(session, chunk_id, owner="worker-a")  # as the reaper would

    with unit_of_work(ctx.sessions) as session:
        assert not repo.finish_chunk(session, chunk_id, owner="worker-a", status=ChunkStatus.DONE)
        assert repo.finish_chunk(
            session, chunk_id, owner="worker-a", or_pending=True, status=ChunkStatus.DONE
        )
    assert _chunk(ctx, chunk_id).status == ChunkStatus.DONE


def test_the_done_count_returns_done_and_total_and_only_one_caller_sees_the_last(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx()
    chunks = 8
    job = _running_job(ctx, chunks=chunks)
    start = threading.Barrier(chunks)

    def count() -> tuple[int, int]:
        start.wait(timeout=30)
        with unit_of_work(ctx.sessions) as session:
            return repo.count_chunk_done(session, job.id)

    with ThreadPoolExecutor(max_workers=chunks) as pool:
        counts = list(pool.map(lambda _: count(), range(chunks)))

    assert sorted(counts) == [(n, chunks) for n in range(1, chunks + 1)]
    assert sum(1 for done, total in counts if done >= total) == 1


def test_the_reaper_returns_an_expired_chunk_to_pending_sends_it_and_closes_its_open_request(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx()
    job = _running_job(ctx)
    (chunk_id,) = add_chunks(ctx.sessions, job, ["pending"])
    assert _claim(ctx, chunk_id, "worker-a") is not None
    with unit_of_work(ctx.sessions) as session:
        bind_factories(session)
        # The request the dead worker had begun: written before the call, never completed.
        record: UsageRecord = UsageRecordFactory(
            tenant_id=job.tenant_id, job_id=job.id, chunk_idx=0, outcome="pending", cost=None
        )
        record_id = record.id
    _expire(database_url, chunk_id)

    sweep = reap(ctx)

    chunk = _chunk(ctx, chunk_id)
    assert (chunk.status, chunk.lease_owner, chunk.lease_until) == (ChunkStatus.PENDING, None, None)
    assert sweep.chunks == [chunk_id] and sweep.failed_chunks == 0
    assert (TRANSLATE_CHUNK, [str(chunk_id)]) in sent(ctx)
    with unit_of_work(ctx.sessions) as session:
        closed = session.get_one(UsageRecord, record_id)
        assert (closed.outcome, closed.estimated) == ("abandoned", True)
    assert _claim(ctx, chunk_id, "worker-b") is not None


def test_the_reaper_leaves_a_chunk_on_a_live_lease_alone(make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    chunk_id = _claimed_chunk(ctx)

    sweep = reap(ctx)

    assert sweep.chunks == []
    assert _chunk(ctx, chunk_id).lease_owner == "worker-a"


def test_a_chunk_claimed_max_claims_times_is_failed_as_abandoned_and_fails_its_job(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx()
    job = _running_job(ctx)
    (chunk_id,) = add_chunks(ctx.sessions, job, ["pending"])
    # Every claim died with its worker: the lease ran out each time.
    for n in range(MAX_CLAIMS):
        assert _claim(ctx, chunk_id, f"worker-{n}") is not None
        _expire(database_url, chunk_id)
        if n < MAX_CLAIMS - 1:
            assert reap(ctx).chunks == [chunk_id]

    sweep = reap(ctx)

    chunk = _chunk(ctx, chunk_id)
    assert (chunk.status, chunk.error_code, chunk.attempts) == (
        ChunkStatus.FAILED,
        "chunk_abandoned",
        MAX_CLAIMS,
    )
    assert sweep.failed_chunks == 1 and sweep.chunks == []
    with unit_of_work(ctx.sessions) as session:
        ended = session.get_one(Job, job.id)
        assert (ended.status, ended.error_code) == (JobStatus.FAILED, "chunk_abandoned")


def test_only_one_finalize_takes_a_job_into_assembly_at_a_time(make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    job = _running_job(ctx)
    with unit_of_work(ctx.sessions) as session:
        assert repo.begin_finalizing(session, job.id) == 1
    with unit_of_work(ctx.sessions) as session:
        assert repo.begin_finalizing(session, job.id) is None  # a duplicate message
        session.get_one(Job, job.id).stage = "translating"  # handed back after a failure
    with unit_of_work(ctx.sessions) as session:
        assert repo.begin_finalizing(session, job.id) == 2
