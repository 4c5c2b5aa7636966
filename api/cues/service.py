"""The rules of reading and editing cues and of redoing a chunk. Functions here never
commit: the request's transaction does, then sends the revision's task."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from api.context import UnitOfWork
from api.cues import repository
from api.cues.schemas import CueList, CuePatch, CueView, RedoRequest, RevisionInfo
from api.errors import ApiError, not_found
from api.jobs.service import find
from ltb.db.models import Job, JobCue, JobRevision, Tenant
from ltb.errors import RequestRefused
from ltb.languages import check_dub_request
from ltb.outputs import spoken
from ltb.queue import PUBLISH_REVISION
from ltb.states import JobStatus, RevisionReason, RevisionStatus
from pipeline.subtitles.cues import Cue
from pipeline.subtitles.edits import CueEdit, apply_edits


def current_cues(session: Session, *, tenant: Tenant, job_id: uuid.UUID) -> CueList:
    """The cues of the revision the job's outputs are read from."""
    job = _succeeded(session, tenant=tenant, job_id=job_id)
    rows = repository.cues(session, job_id=job.id, revision=job.output_revision)
    return CueList.model_validate(
        {
            "job_id": job.id,
            "revision": job.output_revision,
            "target_lang": job.target_lang,
            "cues": [
                CueView(
                    index=row.idx,
                    start_s=row.start_s,
                    end_s=row.end_s,
                    text=row.text,
                    source_text=row.source_text,
                )
                for row in rows
            ],
        }
    )


def edit_cues(
    uow: UnitOfWork, *, tenant: Tenant, job_id: uuid.UUID, body: CuePatch
) -> RevisionInfo:
    """Checks the edits against the subtitle rules and queues a revision written from
    them; 422 `cue_rules_violated` lists every violation and writes nothing."""
    session = uow.session
    job = _revisable(session, tenant=tenant, job_id=job_id)
    rows = repository.cues(session, job_id=job.id, revision=job.output_revision)
    outcome = apply_edits(
        [Cue(r.start_s, r.end_s, tuple(r.text.split("\n"))) for r in rows],
        [CueEdit(e.index, e.text, e.start_s, e.end_s) for e in body.cues],
        target_lang=job.target_lang,
    )
    if outcome.violations:
        count = len(outcome.violations)
        raise ApiError(
            422,
            "cue_rules_violated",
            f"{count} violation{'s' if count != 1 else ''} of the subtitle rules; "
            "nothing was written",
            extra={
                "violations": [
                    {"index": v.index, "rule": v.rule, "message": v.message}
                    for v in outcome.violations
                ]
            },
        )
    revision = _new_revision(session, job, reason=RevisionReason.CUE_EDIT)
    sources = {r.idx: r.source_text for r in rows}
    repository.add_revision(
        session,
        revision,
        [
            JobCue(
                job_id=job.id,
                revision=revision.revision,
                idx=number,
                start_s=cue.start_s,
                end_s=cue.end_s,
                text="\n".join(cue.lines),
                source_text=sources.get(number),
            )
            for number, cue in enumerate(outcome.cues, start=1)
        ],
    )
    uow.enqueue(PUBLISH_REVISION, str(job.id), str(revision.revision))
    return _info(revision)


def redo_chunk(
    uow: UnitOfWork, *, tenant: Tenant, job_id: uuid.UUID, index: int, body: RedoRequest
) -> RevisionInfo:
    """Queues one chunk's translation again (billed as a `redo`) and a revision of every
    output built with it."""
    session = uow.session
    job = _revisable(session, tenant=tenant, job_id=job_id)
    chunk = repository.chunk(session, job_id=job.id, idx=index)
    if chunk is None:
        raise not_found("chunk")
    if not repository.is_done(chunk):
        raise ApiError(
            409,
            "chunk_not_redoable",
            f"chunk {index} is {chunk.status}; only translated chunks (status done) can be redone",
        )
    voice = str(body.voice) if body.voice is not None else None
    if voice is not None:
        if not spoken(job.outputs):
            raise RequestRefused(
                "this job has no spoken output, so a voice changes nothing; leave it out",
                code="voice_not_used",
            )
        check_dub_request(job.target_lang, voice)
    revision = _new_revision(session, job, reason=RevisionReason.REDO)
    revision.chunk_idx, revision.voice = index, voice
    repository.add_revision(session, revision)
    uow.enqueue(PUBLISH_REVISION, str(job.id), str(revision.revision))
    return _info(revision)


def _succeeded(session: Session, *, tenant: Tenant, job_id: uuid.UUID) -> Job:
    job = find(session, tenant=tenant, job_id=job_id)
    if job.status != JobStatus.SUCCEEDED:
        raise ApiError(
            409,
            "job_not_succeeded",
            f"the job is {job.status}; cues and revisions exist only for succeeded jobs",
        )
    return job


def _revisable(session: Session, *, tenant: Tenant, job_id: uuid.UUID) -> Job:
    job = _succeeded(session, tenant=tenant, job_id=job_id)
    repository.lock_job(session, job)
    pending = repository.pending_revision(session, job_id=job.id)
    if pending is not None:
        raise ApiError(
            409,
            "revision_pending",
            f"revision {pending} of this job is still being written; wait for it "
            "(GET /v1/jobs/{id} shows its status), then send this again",
        )
    return job


def _new_revision(session: Session, job: Job, *, reason: RevisionReason) -> JobRevision:
    return JobRevision(
        job_id=job.id,
        revision=repository.next_revision(session, job_id=job.id),
        tenant_id=job.tenant_id,
        reason=reason,
        status=RevisionStatus.PENDING,
    )


def _info(revision: JobRevision) -> RevisionInfo:
    return RevisionInfo.model_validate(
        {
            "revision": revision.revision,
            "reason": revision.reason,
            "status": revision.status,
            "chunk_index": revision.chunk_idx,
            "created_at": revision.created_at,
            "finished_at": revision.finished_at,
            "error": None,
        }
    )
