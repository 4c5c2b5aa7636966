"""finalize: bounded attempts, a missing output bucket named as such, and the job's work
objects removed once it has succeeded."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from job_support import MakeContext, new_job, new_tenant, sent, translated_job

from ltb.db.engine import unit_of_work
from ltb.db.models import Job
from ltb.errors import LtbError
from ltb.queue import FINALIZE_JOB
from ltb.storage import ObjectRef, S3Store
from worker.finalize_step import finalize_job
from worker.reaper import reap

from support.library import MediaLibrary
from support.s3 import dummy_session
from support.s3_faults import faulty_s3


def _job(ctx: Any, job_id: Any) -> Job:
    with unit_of_work(ctx.sessions) as session:
        return session.get_one(Job, job_id)


def test_transient_storage_errors_fail_the_job_once_the_finalize_attempts_are_used_up(
    make_ctx: MakeContext, media: MediaLibrary
) -> None:
    job = translated_job(make_ctx(), media.speech_mp3)
    with faulty_s3(503, "ServiceUnavailable") as (endpoint, _fault):
        store = S3Store(endpoint_url=endpoint, max_attempts=1, session=dummy_session())
        ctx = make_ctx(store=store, finalize_max_attempts=2)
        with pytest.raises(LtbError) as caught:
            finalize_job(ctx, job.id)  # handed back: the reaper finalizes it again
        assert caught.value.code == "storage_error"
        assert _job(ctx, job.id).status == "running"

        finalize_job(ctx, job.id)

    done = _job(ctx, job.id)
    assert (done.status, done.error_code) == ("failed", "storage_error")
    assert "after 2 attempts" in (done.error_message or "")


def test_a_missing_output_bucket_fails_the_job_at_once_and_says_so(
    make_ctx: MakeContext, media: MediaLibrary
) -> None:
    ctx = make_ctx()
    job = translated_job(ctx, media.speech_mp3, output_prefix="s3://absent-outputs/acme/1/")

    finalize_job(ctx, job.id)

    done = _job(ctx, job.id)
    assert (done.status, done.error_code) == ("failed", "output_bucket_missing")
    assert "s3://absent-outputs" in (done.error_message or "")


def test_a_finalize_that_keeps_dying_ends_as_finalize_abandoned(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx(finalize_max_attempts=2, reaper_stale_s=5)
    tenant = new_tenant(ctx.sessions)
    # Finalizes that died mid-assembly: the last allowed one fell silent (the reaper's
    # case), or its message came back after the crash (the redelivery's case).
    silent = new_job(ctx.sessions, tenant, status="running", stage="assembling")
    redelivered = new_job(ctx.sessions, tenant, status="running", stage="translating")
    retried = new_job(ctx.sessions, tenant, status="running", stage="assembling")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE jobs SET finalize_attempts = 2, heartbeat_at = now() - interval '1 hour', "
            "updated_at = now() - interval '1 hour'"
        )
        connection.execute("UPDATE jobs SET finalize_attempts = 1 WHERE id = %s", (retried.id,))

    finalize_job(ctx, redelivered.id)
    sweep = reap(ctx)

    for job_id in (silent.id, redelivered.id):
        done = _job(ctx, job_id)
        assert (done.status, done.error_code) == ("failed", "finalize_abandoned")
    assert sweep.finalizes == [retried.id]  # attempts left: it is finalized again
    assert _job(ctx, retried.id).stage == "translating"
    assert [args for name, args in sent(ctx) if name == FINALIZE_JOB] == [[str(retried.id)]]


def test_a_succeeded_job_leaves_its_outputs_and_no_work_objects(
    make_ctx: MakeContext, media: MediaLibrary
) -> None:
    ctx = make_ctx()
    job = translated_job(ctx, media.speech_mp3)
    work = ObjectRef.parse(f"s3://ltb-outputs/_work/{job.id}/")
    other = ObjectRef.parse("s3://ltb-outputs/_work/another-job/chunk-0.pcm")
    # What the chunk step leaves: a payload sent by URL and a chunk's dub audio.
    ctx.store.put_bytes(work.join("payload-0.mp3"), b"mp3")
    ctx.store.put_bytes(work.join("chunk-0.pcm"), b"pcm")
    ctx.store.put_bytes(other, b"not this job's")
    # And the dub audio the chunk step keeps beside each chunk in the database.
    with psycopg.connect(ctx.settings.database_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO chunk_audio (chunk_id, pcm, created_at) "
            "SELECT id, %s, now() FROM chunks WHERE job_id = %s",
            (b"\x00\x00" * 2400, job.id),
        )

    finalize_job(ctx, job.id)

    assert _job(ctx, job.id).status == "succeeded"
    assert _job(ctx, job.id).work_removed_at is not None
    assert list(ctx.store.list(work)) == []
    with psycopg.connect(ctx.settings.database_url) as connection:
        left = connection.execute(
            "SELECT count(*) FROM chunk_audio JOIN chunks ON chunks.id = chunk_audio.chunk_id "
            "WHERE chunks.job_id = %s",
            (job.id,),
        ).fetchone()
        chunks = connection.execute(
            "SELECT count(*) FROM chunks WHERE job_id = %s", (job.id,)
        ).fetchone()
    # The dubs stay with the chunks: a later output revision assembles dub.wav from them.
    assert left == chunks and left != (0,)
    assert ctx.store.exists(other)
    outputs = {
        item.ref.key.rsplit("/", 1)[1]
        for item in ctx.store.list(ObjectRef.parse(job.output_prefix))
    }
    assert {"translation.txt", "subtitles.srt", "manifest.json"} <= outputs
    manifest = json.loads(
        ctx.store.get_bytes(ObjectRef.parse(job.output_prefix + "manifest.json"), max_bytes=10**7)
    )
    assert manifest["chunks"]


def test_the_reaper_removes_the_work_objects_that_ended_jobs_left_behind(
    make_ctx: MakeContext, database_url: str
) -> None:
    ctx = make_ctx(task_soft_time_limit_s=60, task_time_limit_s=120)
    tenant = new_tenant(ctx.sessions)
    # Cancelled with chunks in flight; succeeded, but the finalize died before cleaning
    # up; failed (a retry needs its chunks); cancelled a moment ago (chunks may still write).
    jobs = {
        status: new_job(ctx.sessions, tenant, status=status.split("-")[0])
        for status in ("cancelled", "succeeded", "failed", "cancelled-recently")
    }
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("UPDATE jobs SET finished_at = now() - interval '1 hour'")
        connection.execute(
            "UPDATE jobs SET finished_at = now() WHERE id = %s",
            (jobs["cancelled-recently"].id,),
        )
    work = {
        status: ObjectRef.parse(f"s3://ltb-outputs/_work/{job.id}/chunk-0.pcm")
        for status, job in jobs.items()
    }
    for ref in work.values():
        ctx.store.put_bytes(ref, b"pcm")

    reap(ctx)

    assert {status for status, ref in work.items() if ctx.store.exists(ref)} == {
        "failed",
        "cancelled-recently",
    }
    assert _job(ctx, jobs["cancelled"].id).work_removed_at is not None
