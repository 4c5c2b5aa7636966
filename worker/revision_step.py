"""publish a revision: a succeeded job's outputs written again under `rev-N/`, after its
cues were edited or one of its chunks was redone (docs/architecture.md "Output revisions").

A cue edit calls no provider: every output is assembled again from the stored chunk
results, with the edited cues in place of built ones for the kinds the registry marks
`from_cues`. A redo first translates its one chunk again (one request, billed and
recorded with purpose `redo`), stores the new result on the chunk, and then assembles
every output from the chunks, cues included. The job's outputs move to the new revision
only once every object of it is written; older revisions stay where they are.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from ltb.db.engine import unit_of_work
from ltb.db.models import Job
from ltb.errors import LtbError
from ltb.outputs import spoken
from ltb.states import RevisionReason, UsagePurpose
from pipeline.subtitles import Cue
from worker import repository as repo
from worker import revision_repository as revisions
from worker import usage_repository
from worker.chunk_step import Claimed
from worker.chunk_step import _translate as translate_claimed
from worker.context import WorkerContext
from worker.finalize_step import publish_outputs
from worker.plan_step import JobFacts

log = logging.getLogger("ltb.worker.revision")

# A revision whose task died this many times is failed rather than sent again.
MAX_REVISION_ATTEMPTS = 3


def publish_revision(ctx: WorkerContext, job_id: uuid.UUID, revision: int) -> None:
    with unit_of_work(ctx.sessions) as session:
        row = revisions.claim(session, job_id, revision, held_s=ctx.settings.task_time_limit_s)
        if row is None:
            return
        reason, chunk_idx, voice = RevisionReason(row.reason), row.chunk_idx, row.voice
        attempts = row.attempts
    if attempts > MAX_REVISION_ATTEMPTS:
        _fail(ctx, job_id, revision, abandoned(MAX_REVISION_ATTEMPTS))
        return
    try:
        if reason == RevisionReason.REDO:
            _redo_chunk(ctx, job_id, chunk_idx, voice)
        cues = _write(ctx, job_id, revision, edited=reason == RevisionReason.CUE_EDIT)
    except LtbError as exc:
        _fail(ctx, job_id, revision, exc)
        return
    except Exception as exc:
        log.exception("revision %s of job %s failed unexpectedly", revision, job_id)
        _fail(
            ctx,
            job_id,
            revision,
            LtbError(
                f"writing the revision failed unexpectedly ({type(exc).__name__}); "
                "see the worker log",
                code="internal_error",
            ),
        )
        return
    with unit_of_work(ctx.sessions) as session:
        if reason == RevisionReason.REDO:
            revisions.store_cues(session, job_id, revision=revision, cues=cues)
        revisions.publish(session, job_id, revision)
    log.info("job %s published revision %s (%s)", job_id, revision, reason)


def abandoned(limit: int) -> LtbError:
    return LtbError(
        f"writing the revision started {limit} times without finishing (its worker died); "
        "see the worker log, then send the edit or the redo again",
        code="revision_abandoned",
    )


def resend_lost(
    ctx: WorkerContext, session: Session, *, queue_empty: bool
) -> list[tuple[uuid.UUID, int]]:
    """The reaper's part: pending revisions whose task was lost or died, to send again.
    A claim older than the task time limit is dead: Celery kills a task past it."""
    moment = datetime.now(UTC)
    return revisions.lost(
        session,
        quiet_since=moment - timedelta(seconds=ctx.settings.reaper_stale_s),
        dead_since=moment - timedelta(seconds=ctx.settings.task_time_limit_s),
        queue_empty=queue_empty,
    )


def _redo_chunk(ctx: WorkerContext, job_id: uuid.UUID, idx: int | None, voice: str | None) -> None:
    """One request for the chunk, recorded like any other; its reply replaces the chunk's."""
    with ctx.sessions() as session:
        job = session.get_one(Job, job_id)
        chunk = revisions.done_chunk(session, job_id, idx if idx is not None else -1)
        if chunk is None:
            raise LtbError(
                f"chunk {idx} of the job is not a translated chunk", code="chunk_not_done"
            )
        facts = JobFacts.of(job)
        if voice is not None:
            facts = dataclasses.replace(
                facts, request=dataclasses.replace(facts.request, voice=voice)
            )
        claimed = Claimed(
            chunk_id=chunk.id,
            planned=repo.planned_from_row(chunk),
            job=facts,
            work_prefix=f"{ctx.settings.work_prefix.rstrip('/')}/{job.id}/redo/",
            dubbed=spoken(job.outputs),
        )
    result = translate_claimed(ctx, claimed, purpose=UsagePurpose.REDO)
    reply = result.reply
    if reply.truncated:
        raise LtbError(
            f"the new answer for chunk {idx} was cut off at the provider's output limit; "
            "the chunk keeps its earlier translation",
            code="output_truncated",
        )
    with unit_of_work(ctx.sessions) as session:
        revisions.replace_chunk_result(
            session,
            claimed.chunk_id,
            text=reply.text,
            finish_reason=reply.finish_reason,
            pcm=reply.pcm,
        )


def _write(ctx: WorkerContext, job_id: uuid.UUID, revision: int, *, edited: bool) -> list[Cue]:
    with ctx.sessions() as session:
        job = session.get_one(Job, job_id)
        analysis = repo.cached_analysis(session, job.tenant_id, job.source_sha256 or "")
        chunks = repo.chunks_of(session, job_id)
        records = usage_repository.usage_records(session, job_id)
        cues = revisions.cues_of(session, job_id, revision) if edited else None
        session.expunge_all()
    if analysis is None:
        raise LtbError("the source analysis is missing from the cache", code="internal_error")
    _, written = publish_outputs(ctx, job, analysis, chunks, records, revision=revision, cues=cues)
    return written


def _fail(ctx: WorkerContext, job_id: uuid.UUID, revision: int, error: LtbError) -> None:
    log.warning("revision %s of job %s failed: %s", revision, job_id, error.code)
    with unit_of_work(ctx.sessions) as session:
        revisions.fail(session, job_id, revision, code=error.code, message=error.message)
