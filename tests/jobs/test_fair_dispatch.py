"""The dispatcher's choice: which waiting chunks enter the task queue, by tenant weight,
tenant cap and job priority, within the fleet's window (worker/dispatch.py)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
from job_support import MakeContext, add_chunks, new_job, new_tenant, sent

from ltb.db.engine import unit_of_work
from ltb.db.models import Batch, Chunk, Tenant
from ltb.queue import TRANSLATE_CHUNK
from worker.dispatch import dispatch


def _tenant(ctx, **fields):  # type: ignore[no-untyped-def]
    tenant = new_tenant(ctx.sessions)
    if fields:
        with unit_of_work(ctx.sessions) as session:
            row = session.get_one(Tenant, tenant.id)
            for name, value in fields.items():
                setattr(row, name, value)
    return tenant


def _running_job(ctx, tenant, chunks: int, *, age_s: float = 0.0, **fields):  # type: ignore[no-untyped-def]
    job = new_job(
        ctx.sessions,
        tenant,
        status="running",
        stage="translating",
        chunks_total=chunks,
        created_at=datetime.now(UTC) - timedelta(seconds=age_s),
        **fields,
    )
    return job, add_chunks(ctx.sessions, job, ["pending"] * chunks)


def _owners(ctx, chunk_ids: list[uuid.UUID]) -> Counter[uuid.UUID]:  # type: ignore[no-untyped-def]
    with unit_of_work(ctx.sessions) as session:
        return Counter(session.get_one(Chunk, chunk_id).tenant_id for chunk_id in chunk_ids)


def _finish(ctx, chunk_ids: list[uuid.UUID]) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(ctx.settings.database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE chunks SET status = 'done', finished_at = now() WHERE id = ANY(%s)",
            (chunk_ids,),
        )


def test_a_small_tenants_one_chunk_is_admitted_in_the_first_window_before_a_big_backlog(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx(dispatch_window_chunks=8)
    big, small = _tenant(ctx), _tenant(ctx)
    _running_job(ctx, big, 1000, age_s=60)
    _, (small_chunk,) = _running_job(ctx, small, 1)

    admitted = dispatch(ctx)

    assert len(admitted) == 8
    assert small_chunk in admitted
    assert admitted.index(small_chunk) <= 1  # tied at the first place, the older job goes first
    assert [(task, args) for task, args in sent(ctx)] == [
        (TRANSLATE_CHUNK, [str(chunk_id)]) for chunk_id in admitted
    ]


def test_nothing_more_is_admitted_while_the_window_is_full_and_a_finished_chunk_frees_a_slot(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx(dispatch_window_chunks=4)
    big, small = _tenant(ctx), _tenant(ctx)
    _running_job(ctx, big, 50, age_s=60)
    first = dispatch(ctx)
    assert len(first) == 4
    assert dispatch(ctx) == []  # the window is full

    _, (small_chunk,) = _running_job(ctx, small, 1)
    assert dispatch(ctx) == []
    _finish(ctx, first[:1])
    assert dispatch(ctx) == [small_chunk]  # the freed slot goes to the tenant with none in flight


def test_backlogged_tenants_share_the_window_by_weight(make_ctx: MakeContext) -> None:
    ctx = make_ctx(dispatch_window_chunks=12)
    heavy, light = _tenant(ctx, weight=3), _tenant(ctx, weight=1)
    _running_job(ctx, heavy, 100, age_s=10)
    _running_job(ctx, light, 100, age_s=20)

    shares = _owners(ctx, dispatch(ctx))

    assert shares == {heavy.id: 9, light.id: 3}


def test_a_tenant_never_has_more_chunks_in_flight_than_its_cap(make_ctx: MakeContext) -> None:
    ctx = make_ctx(dispatch_window_chunks=10)
    capped, other = _tenant(ctx, max_concurrent_chunks=2), _tenant(ctx)
    _running_job(ctx, capped, 100, age_s=60)
    _running_job(ctx, other, 3)

    first = dispatch(ctx)
    assert _owners(ctx, first) == {capped.id: 2, other.id: 3}  # the window keeps 5 slots free
    assert dispatch(ctx) == []
    _finish(ctx, [c for c in first if _owners(ctx, [c])[capped.id]][:1])
    assert _owners(ctx, dispatch(ctx)) == {capped.id: 1}


def test_within_a_tenant_high_priority_jobs_go_first_then_normal_then_low(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx(dispatch_window_chunks=3)
    tenant = _tenant(ctx)
    _, low = _running_job(ctx, tenant, 3, age_s=30, priority="low")
    _, normal = _running_job(ctx, tenant, 3, age_s=20, priority="normal")
    _, high = _running_job(ctx, tenant, 3, age_s=10, priority="high")

    assert dispatch(ctx) == high
    _finish(ctx, high)
    assert dispatch(ctx) == normal
    _finish(ctx, normal)
    assert dispatch(ctx) == low


def test_priority_does_not_jump_another_tenants_share(make_ctx: MakeContext) -> None:
    ctx = make_ctx(dispatch_window_chunks=4)
    urgent, plain = _tenant(ctx), _tenant(ctx)
    _running_job(ctx, urgent, 10, priority="high")
    _running_job(ctx, plain, 10, priority="low", age_s=30)

    assert _owners(ctx, dispatch(ctx)) == {urgent.id: 2, plain.id: 2}


def test_chunks_of_jobs_that_are_not_running_are_never_admitted_nor_hold_a_slot(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx(dispatch_window_chunks=2)
    tenant = _tenant(ctx)
    job, chunks = _running_job(ctx, tenant, 2, age_s=30)
    assert dispatch(ctx) == chunks
    with psycopg.connect(ctx.settings.database_url, autocommit=True) as connection:
        connection.execute("UPDATE jobs SET status = 'cancelled' WHERE id = %s", (job.id,))
    _, after = _running_job(ctx, tenant, 2)

    assert dispatch(ctx) == after  # the cancelled job's admitted chunks freed their slots


def test_a_batchs_plans_wait_in_their_own_queue_so_a_single_jobs_plan_is_not_behind_them(
    make_ctx: MakeContext,
) -> None:
    from ltb.queue import BATCH_PLAN_QUEUE, PLAN_QUEUE
    from worker.batch_step import dispatch_batch

    from support.factories import bind_factories

    ctx = make_ctx()
    tenant = _tenant(ctx)
    with unit_of_work(ctx.sessions) as session:
        bind_factories(session)
        batch = Batch(tenant_id=tenant.id, target_langs=["en"], jobs_total=3)
        session.add(batch)
        session.flush()
        batch_id = batch.id
    for _ in range(3):
        new_job(ctx.sessions, tenant, batch_id=batch_id)

    assert dispatch_batch(ctx, batch_id) == 3

    with ctx.queue.connection_for_write() as connection:
        channel = connection.default_channel
        assert channel.queue_declare(queue=BATCH_PLAN_QUEUE, passive=False).message_count == 3
        assert channel.queue_declare(queue=PLAN_QUEUE, passive=False).message_count == 0


def _stale(ctx, chunk_ids: list[uuid.UUID]) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(ctx.settings.database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE chunks SET updated_at = now() - interval '1 hour' WHERE id = ANY(%s)",
            (chunk_ids,),
        )


def test_the_reaper_resends_admitted_chunks_whose_messages_were_lost_and_admits_by_fairness(
    make_ctx: MakeContext,
) -> None:
    from worker.reaper import reap

    ctx = make_ctx(dispatch_window_chunks=3)
    big, small = _tenant(ctx), _tenant(ctx)
    _, big_chunks = _running_job(ctx, big, 20, age_s=60)
    admitted = dispatch(ctx)
    assert admitted == big_chunks[:3]
    sent(ctx)  # the broker loses these messages (a Redis restart without persistence)
    _finish(ctx, admitted[:1])
    _, (small_chunk,) = _running_job(ctx, small, 1)
    _stale(ctx, [*big_chunks, small_chunk])

    sweep = reap(ctx)

    # Lost messages of admitted chunks are sent again; the waiting backlog is not flushed
    # into the queue: the one free slot goes to the small tenant.
    assert sorted(sweep.chunks) == sorted(admitted[1:])
    assert sorted(args[0] for _, args in sent(ctx)) == sorted(
        str(chunk_id) for chunk_id in [*admitted[1:], small_chunk]
    )


def test_a_plan_leaves_its_chunks_waiting_beyond_the_window(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx(dispatch_window_chunks=2)
    tenant = _tenant(ctx)
    job, chunks = _running_job(ctx, tenant, 5)
    from worker.plan_step import requeue_unfinished

    requeue_unfinished(ctx, job.id)  # a duplicate plan message of a planned job

    assert [args for _, args in sent(ctx)] == [[str(chunk_id)] for chunk_id in chunks[:2]]
    requeue_unfinished(ctx, job.id)
    assert [args for _, args in sent(ctx)] == [[str(chunk_id)] for chunk_id in chunks[:2]]
