"""Output revisions: finalize keeps the cues its subtitles were written from; a cue edit's
revision is written under rev-N/ from the edited cues, calling no provider; a revision
that cannot be written fails alone and the job keeps its outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from job_support import MakeContext, purge, sent, translated_job
from sqlalchemy import func, select

from ltb.db.engine import unit_of_work
from ltb.db.models import Job, JobCue, JobRevision, UsageRecord
from ltb.queue import PUBLISH_REVISION
from ltb.storage import ObjectRef
from worker.finalize_step import finalize_job
from worker.reaper import reap
from worker.revision_step import MAX_REVISION_ATTEMPTS, publish_revision

from support.library import MediaLibrary


def _read(ctx: Any, uri: str) -> str:
    return ctx.store.get_bytes(ObjectRef.parse(uri), max_bytes=10**6).decode()


def _edit_first_cue(ctx: Any, job: Job, text: str, *, revision: int = 1) -> None:
    """What PATCH /v1/jobs/{id}/cues records: a pending revision and its edited cues."""
    with unit_of_work(ctx.sessions) as session:
        cues = session.scalars(
            select(JobCue).where(JobCue.job_id == job.id, JobCue.revision == 0)
        ).all()
        session.add(
            JobRevision(
                job_id=job.id,
                revision=revision,
                tenant_id=job.tenant_id,
                reason="cue_edit",
                status="pending",
            )
        )
        session.flush()
        for cue in cues:
            session.add(
                JobCue(
                    job_id=job.id,
                    revision=revision,
                    idx=cue.idx,
                    start_s=cue.start_s,
                    end_s=cue.end_s,
                    text=text if cue.idx == 1 else cue.text,
                )
            )


def test_finalize_keeps_the_cues_and_a_cue_edit_writes_them_into_rev_1(
    make_ctx: MakeContext, media: MediaLibrary
) -> None:
    ctx = make_ctx()
    job = translated_job(ctx, media.speech_mp3, outputs=["text", "srt", "vtt"])
    finalize_job(ctx, job.id)
    with unit_of_work(ctx.sessions) as session:
        done = session.get_one(Job, job.id)
        cues = session.scalars(
            select(JobCue).where(JobCue.job_id == job.id).order_by(JobCue.idx)
        ).all()
        records = session.scalar(select(func.count()).where(UsageRecord.job_id == job.id))
    assert done.status == "succeeded" and done.output_revision == 0
    rev0 = _read(ctx, done.output_prefix + "subtitles.srt")
    assert cues and [c.idx for c in cues] == list(range(1, len(cues) + 1))
    assert all(c.text in rev0 for c in cues)

    _edit_first_cue(ctx, done, "A corrected line.")
    publish_revision(ctx, job.id, 1)

    with unit_of_work(ctx.sessions) as session:
        after = session.get_one(Job, job.id)
        revision = session.get_one(JobRevision, (job.id, 1))
        assert session.scalar(select(func.count()).where(UsageRecord.job_id == job.id)) == records
    assert after.output_revision == 1 and revision.status == "ready"
    rev1 = done.output_prefix + "rev-1/"
    assert "A corrected line." in _read(ctx, rev1 + "subtitles.srt")
    assert "A corrected line." in _read(ctx, rev1 + "subtitles.vtt")
    assert _read(ctx, rev1 + "translation.txt") == _read(
        ctx, done.output_prefix + "translation.txt"
    )
    assert _read(ctx, done.output_prefix + "subtitles.srt") == rev0  # revision 0 stays
    # A second delivery of the same task finds the revision written and does nothing.
    publish_revision(ctx, job.id, 1)


def test_a_revision_that_cannot_be_written_fails_alone(
    make_ctx: MakeContext, media: MediaLibrary
) -> None:
    ctx = make_ctx()
    job = translated_job(ctx, media.speech_mp3, outputs=["srt"])
    finalize_job(ctx, job.id)
    with unit_of_work(ctx.sessions) as session:
        done = session.get_one(Job, job.id)
    # Stored cues the writers refuse (a timing arrow in the text) never reach S3.
    _edit_first_cue(ctx, done, "a --> b")
    publish_revision(ctx, job.id, 1)
    with unit_of_work(ctx.sessions) as session:
        revision = session.get_one(JobRevision, (job.id, 1))
        assert session.get_one(Job, job.id).output_revision == 0
    assert revision.status == "failed" and revision.error_code == "internal_error"
    assert not ctx.store.exists(ObjectRef.parse(done.output_prefix + "rev-1/subtitles.srt"))


def test_a_lost_revision_is_sent_again_and_a_claimed_one_runs_once(
    make_ctx: MakeContext, media: MediaLibrary, database_url: str
) -> None:
    ctx = make_ctx(reaper_stale_s=5)
    job = translated_job(ctx, media.speech_mp3, outputs=["srt"])
    finalize_job(ctx, job.id)
    with unit_of_work(ctx.sessions) as session:
        done = session.get_one(Job, job.id)
    _edit_first_cue(ctx, done, "Lost once.")
    purge(ctx)
    # Its message was lost: pending, never claimed, older than the reaper's patience.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE job_revisions SET created_at = now() - interval '1 hour' WHERE job_id = %s",
            (job.id,),
        )
    reap(ctx)
    assert [args for name, args in sent(ctx) if name == PUBLISH_REVISION] == [[str(job.id), 1]]
    # A worker holds it now (claimed within the task time limit): not sent again, and a
    # second delivery does not write it a second time.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE job_revisions SET claimed_at = now(), attempts = 1 WHERE job_id = %s",
            (job.id,),
        )
    reap(ctx)
    assert [name for name, _ in sent(ctx) if name == PUBLISH_REVISION] == []
    publish_revision(ctx, job.id, 1)
    assert not ctx.store.exists(ObjectRef.parse(done.output_prefix + "rev-1/subtitles.srt"))
    # Its worker died: past the task time limit, the revision is taken back and written.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE job_revisions SET claimed_at = now() - interval '1 day' WHERE job_id = %s",
            (job.id,),
        )
    reap(ctx)
    assert [args for name, args in sent(ctx) if name == PUBLISH_REVISION] == [[str(job.id), 1]]
    publish_revision(ctx, job.id, 1)
    with unit_of_work(ctx.sessions) as session:
        assert session.get_one(JobRevision, (job.id, 1)).attempts == 2
        assert session.get_one(Job, job.id).output_revision == 1


def test_a_revision_whose_worker_keeps_dying_ends_abandoned(
    make_ctx: MakeContext, media: MediaLibrary, database_url: str
) -> None:
    ctx = make_ctx()
    job = translated_job(ctx, media.speech_mp3, outputs=["srt"])
    finalize_job(ctx, job.id)
    with unit_of_work(ctx.sessions) as session:
        done = session.get_one(Job, job.id)
    _edit_first_cue(ctx, done, "Never written.")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE job_revisions SET claimed_at = now() - interval '1 day', attempts = %s "
            "WHERE job_id = %s",
            (MAX_REVISION_ATTEMPTS, job.id),
        )
    publish_revision(ctx, job.id, 1)
    with unit_of_work(ctx.sessions) as session:
        revision = session.get_one(JobRevision, (job.id, 1))
    assert (revision.status, revision.error_code) == ("failed", "revision_abandoned")


def test_a_revision_of_a_dubbed_job_keeps_the_chunks_dubs(
    make_ctx: MakeContext, media: MediaLibrary, database_url: str
) -> None:
    ctx = make_ctx()
    job = translated_job(ctx, media.speech_mp3, outputs=["srt", "wav"], voice="Cherry")
    # The chunk step keeps each reply's dub with its chunk: half a second of a tone here.
    tone = (np.sin(np.arange(12_000) / 10) * 8000).astype("<i2").tobytes()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO chunk_audio (chunk_id, pcm, created_at) "
            "SELECT id, %s, now() FROM chunks WHERE job_id = %s AND status = 'done'",
            (tone, job.id),
        )
    finalize_job(ctx, job.id)
    with unit_of_work(ctx.sessions) as session:
        done = session.get_one(Job, job.id)
    _edit_first_cue(ctx, done, "A corrected line.")
    publish_revision(ctx, job.id, 1)

    def loudest(uri: str) -> int:
        wav = ctx.store.get_bytes(ObjectRef.parse(uri), max_bytes=10**8)
        return int(np.abs(np.frombuffer(wav[44:], dtype="<i2")).max())

    assert loudest(done.output_prefix + "dub.wav") > 0
    assert loudest(done.output_prefix + "rev-1/dub.wav") > 0
