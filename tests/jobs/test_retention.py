"""Retention and deletion, the worker's side, on a real Postgres and a moto S3: a job past
its retention (or deleted by its owner) loses every object the service wrote for it, and
nothing else: not its source, not another job's objects, not the tenant's own files, not
its row or its usage records."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from job_support import MakeContext, new_job, new_tenant
from sqlalchemy import func, select

from ltb.db.engine import unit_of_work
from ltb.db.models import (
    Chunk,
    ChunkAudio,
    Job,
    SourceAnalysisCache,
    SourceObject,
    Tenant,
    UsageDaily,
    UsageRecord,
    WebhookEvent,
)
from ltb.errors import LtbError
from ltb.queue import DELIVER_WEBHOOK, WEBHOOK_QUEUE
from ltb.storage import ObjectRef, S3Store
from worker.context import WorkerContext
from worker.retention import expire_due, purge_job

from support.s3 import dummy_session

BUCKETS = ("media", "ltb-outputs")


@pytest.fixture
def bucket_listing(s3_endpoint: str) -> Any:
    """Every object in the test's buckets, listed straight from S3."""
    client = dummy_session().client("s3", endpoint_url=s3_endpoint)

    def listing() -> set[str]:
        found = set()
        for bucket in BUCKETS:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                found |= {f"s3://{bucket}/{obj['Key']}" for obj in page.get("Contents", [])}
        return found

    return listing


def _put(store: S3Store, uri: str, data: bytes = b"x") -> str:
    store.put_bytes(ObjectRef.parse(uri), data)
    return uri


def _finished_job(
    ctx: WorkerContext,
    tenant: Tenant,
    *,
    finished_ago: timedelta = timedelta(hours=1),
    output_prefix: str | None = None,
    source: str | None = None,
    sha: str | None = None,
    **fields: Any,
) -> tuple[Job, set[str]]:
    """A succeeded job with everything the service writes for one: its outputs and
    manifest, an output revision, work objects, a kept dub, cached analysis and usage.
    Returns the job and the URIs of the objects written for it."""
    job_id = uuid.uuid4()
    prefix = output_prefix or f"s3://ltb-outputs/{tenant.name}/{job_id}/"
    source = source or f"s3://media/{tenant.name}/{job_id}.mp3"
    sha = sha or uuid.uuid4().hex * 2
    job = new_job(
        ctx.sessions,
        tenant,
        id=job_id,
        status="succeeded",
        source_uri=source,
        source_sha256=sha,
        output_prefix=prefix,
        finished_at=datetime.now(UTC) - finished_ago,
        **fields,
    )
    if not ctx.store.exists(ObjectRef.parse(source)):
        _put(ctx.store, source, b"the tenant's own media")
    manifest = {
        "job": {"job_id": str(job_id)},
        "outputs": {"text": "translation.txt", "srt": "subtitles.srt"},
    }
    written = {
        _put(ctx.store, prefix + "translation.txt"),
        _put(ctx.store, prefix + "subtitles.srt"),
        _put(ctx.store, prefix + "manifest.json", json.dumps(manifest).encode()),
        # A revised output (a chunk redone after the job succeeded).
        _put(ctx.store, prefix + "rev-1/translation.txt"),
        _put(ctx.store, prefix + "rev-1/manifest.json", json.dumps(manifest).encode()),
        _put(ctx.store, f"{ctx.settings.work_prefix}{job_id}/chunk-00000.wav"),
    }
    with unit_of_work(ctx.sessions) as session:
        chunk = Chunk(
            tenant_id=tenant.id,
            job_id=job_id,
            idx=0,
            start_s=0.0,
            end_s=5.0,
            status="done",
            result_text="Bonjour.",
        )
        session.add(chunk)
        session.flush()
        session.add(ChunkAudio(chunk_id=chunk.id, pcm=b"\0\0" * 100))
        if session.get(SourceAnalysisCache, (tenant.id, sha)) is None:
            session.add(SourceAnalysisCache(tenant_id=tenant.id, sha256=sha, analysis={}))
            session.add(
                SourceObject(tenant_id=tenant.id, uri=source, etag="e1", size_bytes=3, sha256=sha)
            )
        session.add(
            UsageRecord(
                tenant_id=tenant.id,
                job_id=job_id,
                chunk_idx=0,
                attempt=1,
                model="qwen3-livetranslate-flash",
                input_audio=375,
                output_text=120,
                estimated=False,
                outcome="ok",
                cost=Decimal("0.01"),
                currency="USD",
                price_table="t",
            )
        )
    return job, written


def _job(ctx: WorkerContext, job_id: uuid.UUID) -> Job:
    with ctx.sessions() as session:
        return session.get_one(Job, job_id)


def _usage_totals(ctx: WorkerContext) -> tuple[Any, ...]:
    with ctx.sessions() as session:
        records = session.execute(
            select(func.count(UsageRecord.id), func.sum(UsageRecord.input_audio))
        ).one()
        daily = session.execute(
            select(func.sum(UsageDaily.requests), func.sum(UsageDaily.cost))
        ).one()
    return (*records, *daily)


def _deliveries(ctx: WorkerContext) -> list[tuple[str, list[Any]]]:
    """The webhook deliveries sent, taken off their queue."""
    messages = []
    with ctx.queue.connection_for_write() as connection:
        while (message := connection.default_channel.basic_get(WEBHOOK_QUEUE)) is not None:
            messages.append((message.headers["task"], list(message.decode()[0])))
    return messages


def _mark_deleted(ctx: WorkerContext, job_id: uuid.UUID) -> None:
    """What DELETE /v1/jobs/{id} commits before the worker purges."""
    with psycopg.connect(ctx.settings.database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE jobs SET deleted_at = now(), purge_started_at = now() WHERE id = %s",
            (job_id,),
        )


def test_a_deleted_job_loses_every_object_written_for_it_and_nothing_else(
    make_ctx: MakeContext,
    bucket_listing: Any,
) -> None:
    ctx = make_ctx()
    tenant = new_tenant(ctx.sessions)
    deleted, written = _finished_job(ctx, tenant)
    kept, kept_written = _finished_job(ctx, tenant)
    # The tenant's own file beside the outputs it asked for.
    own_file = _put(ctx.store, f"s3://media/{tenant.name}/notes.txt")
    before, usage_before = bucket_listing(), _usage_totals(ctx)
    assert written | kept_written | {own_file, deleted.source_uri} <= before

    _mark_deleted(ctx, deleted.id)
    assert purge_job(ctx, deleted.id) is True

    after = bucket_listing()
    assert before - after == written
    assert deleted.source_uri in after and own_file in after
    row = _job(ctx, deleted.id)
    assert row.outputs_expired_at is not None and row.status == "succeeded"
    assert _usage_totals(ctx) == usage_before
    with ctx.sessions() as session:
        # The translations the service kept with the chunks go too; the chunk rows stay.
        assert session.scalars(
            select(Chunk.result_text).where(Chunk.job_id == deleted.id)
        ).all() == [None]
        assert (
            session.scalar(
                select(func.count())
                .select_from(ChunkAudio)
                .join(Chunk)
                .where(Chunk.job_id == deleted.id)
            )
            == 0
        )
        assert session.get(SourceAnalysisCache, (tenant.id, deleted.source_sha256)) is None
        assert session.get(SourceObject, (tenant.id, deleted.source_uri, "e1")) is None
        # The other job's copies are untouched.
        assert session.get(SourceAnalysisCache, (tenant.id, kept.source_sha256)) is not None
    # Running it again changes nothing and says so.
    assert purge_job(ctx, deleted.id) is False
    assert bucket_listing() == after


def test_outputs_under_a_tenant_chosen_prefix_go_one_by_one_never_the_whole_prefix(
    make_ctx: MakeContext,
    bucket_listing: Any,
) -> None:
    ctx = make_ctx()
    tenant = new_tenant(ctx.sessions)
    shared = f"s3://media/{tenant.name}/deliveries/"
    theirs = {
        _put(ctx.store, shared + "contract.pdf"),
        _put(ctx.store, shared + "rev-1/their-own-folder.txt"),
    }
    job, written = _finished_job(ctx, tenant, output_prefix=shared)

    _mark_deleted(ctx, job.id)
    purge_job(ctx, job.id)

    after = bucket_listing()
    assert not written & after
    assert theirs <= after


def test_outputs_another_job_has_since_written_to_the_same_prefix_are_not_touched(
    make_ctx: MakeContext,
    bucket_listing: Any,
) -> None:
    ctx = make_ctx()
    tenant = new_tenant(ctx.sessions)
    shared = f"s3://media/{tenant.name}/latest/"
    older, _ = _finished_job(ctx, tenant, output_prefix=shared)
    _, newer_written = _finished_job(ctx, tenant, output_prefix=shared)

    _mark_deleted(ctx, older.id)
    purge_job(ctx, older.id)

    # The manifest there names the newer job: those files are its outputs now.
    assert newer_written <= bucket_listing()


def test_the_sweep_expires_jobs_past_their_retention_and_keeps_the_rest(
    make_ctx: MakeContext,
    bucket_listing: Any,
) -> None:
    ctx = make_ctx()
    week = new_tenant(ctx.sessions)
    forever = new_tenant(ctx.sessions)
    with unit_of_work(ctx.sessions) as session:
        session.get_one(Tenant, week.id).retention_days = 7
    old, old_written = _finished_job(ctx, week, finished_ago=timedelta(days=8))
    recent, _ = _finished_job(ctx, week, finished_ago=timedelta(days=1))
    # A job may keep its outputs for less than its tenant does.
    shortened, short_written = _finished_job(
        ctx, week, finished_ago=timedelta(days=2), retention_days=1
    )
    ancient, _ = _finished_job(ctx, forever, finished_ago=timedelta(days=3650))
    running = new_job(ctx.sessions, week, status="running")
    before = bucket_listing()

    assert expire_due(ctx) == 2

    assert before - bucket_listing() == old_written | short_written
    assert _job(ctx, old.id).outputs_expired_at is not None
    assert _job(ctx, shortened.id).outputs_expired_at is not None
    for job in (recent, ancient, running):
        assert _job(ctx, job.id).outputs_expired_at is None
    # Expiry is not a deletion: the owner asked for nothing, and no job.deleted is sent.
    assert _job(ctx, old.id).deleted_at is None
    assert expire_due(ctx) == 0


class _DiesMidDeletion(S3Store):
    """A store that loses its connection after the outputs went, before the work objects."""

    def delete_prefix(self, prefix: ObjectRef) -> int:
        raise LtbError("connection reset while deleting", code="storage_error")


def test_a_deletion_cut_short_is_finished_by_the_next_sweep(
    make_ctx: MakeContext, bucket_listing: Any, s3_endpoint: str
) -> None:
    dying = _DiesMidDeletion(endpoint_url=s3_endpoint, session=dummy_session())
    ctx = make_ctx(store=dying)
    tenant = new_tenant(ctx.sessions)
    job, written = _finished_job(ctx, tenant)
    _mark_deleted(ctx, job.id)

    with pytest.raises(LtbError):
        purge_job(ctx, job.id)
    cut_short = _job(ctx, job.id)
    assert cut_short.outputs_expired_at is None and cut_short.purge_started_at is not None

    healthy = make_ctx()
    assert expire_due(healthy) == 1
    assert not written & bucket_listing()
    assert _job(healthy, job.id).outputs_expired_at is not None


def test_a_deleted_job_with_a_callback_sends_job_deleted_once(make_ctx: MakeContext) -> None:
    ctx = make_ctx()
    tenant = new_tenant(ctx.sessions)
    job, _ = _finished_job(ctx, tenant, callback_url="https://hooks.example.com/ltb")
    _mark_deleted(ctx, job.id)
    _deliveries(ctx)  # the queue is shared with earlier tests: start from an empty one

    purge_job(ctx, job.id)
    purge_job(ctx, job.id)

    with ctx.sessions() as session:
        events = session.scalars(
            select(WebhookEvent).where(WebhookEvent.subject_id == job.id)
        ).all()
    assert [event.event for event in events] == ["job.deleted"]
    assert _deliveries(ctx) == [(DELIVER_WEBHOOK, [str(events[0].id)])]


def test_the_analysis_cache_stays_while_another_job_of_the_source_keeps_its_outputs(
    make_ctx: MakeContext,
    bucket_listing: Any,
) -> None:
    ctx = make_ctx()
    tenant = new_tenant(ctx.sessions)
    source, sha = f"s3://media/{tenant.name}/shared.mp3", "ab" * 32
    first, _ = _finished_job(ctx, tenant, source=source, sha=sha)
    second, _ = _finished_job(ctx, tenant, source=source, sha=sha)
    cached = ctx.settings.scratch_dir / "sources" / sha
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"a worker's copy")
    long_ago = time.time() - 2 * ctx.settings.task_time_limit_s
    os.utime(cached, (long_ago, long_ago))
    # Another copy nobody maps, but just downloaded: its record may be on its way.
    fresh = ctx.settings.scratch_dir / "sources" / ("cd" * 32)
    fresh.write_bytes(b"a download a moment ago")

    _mark_deleted(ctx, first.id)
    purge_job(ctx, first.id)
    with ctx.sessions() as session:
        assert session.get(SourceAnalysisCache, (tenant.id, sha)) is not None
    assert cached.exists()

    _mark_deleted(ctx, second.id)
    purge_job(ctx, second.id)
    with ctx.sessions() as session:
        assert session.get(SourceAnalysisCache, (tenant.id, sha)) is None
    assert not cached.exists()
    assert fresh.exists()
    assert ctx.store.exists(ObjectRef.parse(source))
