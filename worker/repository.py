"""The steps' queries about jobs and chunks: stages, claims, leases, counts, plans and the
analyses they reuse. Claims and counts are single conditional statements, so two workers
can never both own a chunk, and only one can see the last chunk finish.

The workers' other queries live beside it, one module per domain: usage records in
usage_repository, the webhook outbox in webhook_repository, sources seen before in
source_repository, and the reaper's in sweep_repository."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, ChunkAudio, Job, SourceAnalysisCache
from ltb.lifecycle import Deliver, finish_job
from ltb.states import FINALIZE_STAGES, PLAN_STAGES, ChunkStatus, JobStage, JobStatus
from ltb.timeline import Span
from pipeline.analysis import SourceAnalysis
from pipeline.payload import VideoPayload
from pipeline.plan import ChunkCost, PlannedChunk


def now() -> datetime:
    return datetime.now(UTC)


# --- jobs -------------------------------------------------------------------------------


def job(session: Session, job_id: uuid.UUID) -> Job | None:
    return session.get(Job, job_id)


def set_stage(
    session: Session, job_id: uuid.UUID, stage: JobStage, *, progress: bool = True
) -> None:
    """Enters a stage; entering one is progress, unless the step says it is not (a job
    handed back after a failure)."""
    moved = {"progress_at": now()} if progress else {}
    session.execute(update(Job).where(Job.id == job_id).values(stage=stage, **moved))


def enter_plan_stage(session: Session, job_id: uuid.UUID, stage: JobStage) -> None:
    """Enters a planning stage, unless the job is already past planning."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, or_(Job.stage.is_(None), Job.stage.in_(PLAN_STAGES)))
        .values(stage=stage, progress_at=now())
    )


def is_planned(session: Session, job_id: uuid.UUID) -> bool:
    """Whether the job has chunks: a plan was recorded for it."""
    return session.scalar(select(Chunk.id).where(Chunk.job_id == job_id).limit(1)) is not None


def queued_job_ids(
    session: Session, batch_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """A page of the batch's queued jobs, in id order, after the id `after`."""
    query = select(Job.id).where(Job.batch_id == batch_id, Job.status == JobStatus.QUEUED)
    if after is not None:
        query = query.where(Job.id > after)
    return list(session.scalars(query.order_by(Job.id).limit(limit)))


def heartbeat(session: Session, job_id: uuid.UUID) -> None:
    """The job's plan or finalize is alive: a sign of life, not progress. It also moves
    updated_at, so the reaper does not re-send a plan that is still running."""
    moment = now()
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
        .values(heartbeat_at=moment, updated_at=moment)
    )


def fail_job(
    session: Session, job_id: uuid.UUID, *, code: str, message: str, deliver: Deliver | None = None
) -> None:
    """Fails a job that is still active; a cancelled or finished job keeps its status."""
    job = session.get(Job, job_id)
    if job is not None:
        finish_job(session, job, status=JobStatus.FAILED, error=(code, message), deliver=deliver)


def count_chunk_done(session: Session, job_id: uuid.UUID) -> tuple[int, int]:
    """Adds one to the job's finished chunks; returns (done, total) as they are now."""
    row = session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(chunks_done=Job.chunks_done + 1, progress_at=now())
        .returning(Job.chunks_done, Job.chunks_total)
    ).one()
    return int(row[0]), int(row[1])


def begin_finalizing(session: Session, job_id: uuid.UUID) -> int | None:
    """Takes the job into assembly once and counts the attempt; returns the attempt's
    number, or None when the job is not running or another finalize holds it."""
    moment = now()
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == JobStatus.RUNNING,
            func.coalesce(Job.stage, "").notin_(FINALIZE_STAGES),
        )
        .values(
            stage=JobStage.ASSEMBLING,
            finalize_attempts=Job.finalize_attempts + 1,
            progress_at=moment,
            heartbeat_at=moment,
        )
        .returning(Job.finalize_attempts)
    ).first()
    return None if result is None else int(result[0])


def begin_planning(session: Session, job_id: uuid.UUID) -> int:
    """Counts a start of the job's plan (fetch, probe, plan); returns its number."""
    return int(
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(plan_attempts=Job.plan_attempts + 1, heartbeat_at=now())
            .returning(Job.plan_attempts)
        ).scalar_one()
    )


# --- chunks -----------------------------------------------------------------------------


def claim_chunk(
    session: Session, chunk_id: uuid.UUID, *, owner: str, lease_s: float
) -> Chunk | None:
    """Claims a chunk that is pending, or running on an expired lease, of a running job."""
    moment = now()
    job_running = exists().where(Job.id == Chunk.job_id, Job.status == JobStatus.RUNNING)
    claimed = session.execute(
        update(Chunk)
        .where(
            Chunk.id == chunk_id,
            (Chunk.status == ChunkStatus.PENDING)
            | ((Chunk.status == ChunkStatus.RUNNING) & (Chunk.lease_until < moment)),
            job_running,
        )
        .values(
            status=ChunkStatus.RUNNING,
            lease_owner=owner,
            lease_until=moment + timedelta(seconds=lease_s),
            attempts=Chunk.attempts + 1,
            started_at=moment,
        )
        .returning(Chunk.id)
    ).first()
    if claimed is None:
        return None
    return session.get(Chunk, chunk_id, populate_existing=True)


def renew_lease(session: Session, chunk_id: uuid.UUID, *, owner: str, lease_s: float) -> bool:
    result = session.execute(
        update(Chunk)
        .where(
            Chunk.id == chunk_id, Chunk.status == ChunkStatus.RUNNING, Chunk.lease_owner == owner
        )
        .values(lease_until=now() + timedelta(seconds=lease_s))
        .returning(Chunk.id)
    )
    return result.first() is not None


def release_lease(session: Session, chunk_id: uuid.UUID, *, owner: str) -> None:
    """Hands a chunk back at once (warm shutdown), instead of waiting for the lease to expire."""
    session.execute(
        update(Chunk)
        .where(
            Chunk.id == chunk_id, Chunk.status == ChunkStatus.RUNNING, Chunk.lease_owner == owner
        )
        .values(status=ChunkStatus.PENDING, lease_until=None, lease_owner=None)
    )


def expire_lease(session: Session, chunk_id: uuid.UUID, *, owner: str) -> None:
    """Ends a lease now: the next reaper sweep takes the chunk back and counts the claim."""
    session.execute(
        update(Chunk)
        .where(
            Chunk.id == chunk_id, Chunk.status == ChunkStatus.RUNNING, Chunk.lease_owner == owner
        )
        .values(lease_until=now())
    )


def remove_chunk_audio(
    session: Session, job_id: uuid.UUID, *, keep_if_succeeded: bool = False
) -> None:
    """Deletes the dubs kept with the job's chunks (not a succeeded job's, if so asked)."""
    chunks = select(Chunk.id).where(Chunk.job_id == job_id)
    if keep_if_succeeded:
        chunks = chunks.join(Job, Job.id == Chunk.job_id).where(Job.status != JobStatus.SUCCEEDED)
    session.execute(delete(ChunkAudio).where(ChunkAudio.chunk_id.in_(chunks)))


def mark_work_removed(session: Session, job_id: uuid.UUID) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(work_removed_at=now()))


def chunk_audio(session: Session, chunk_id: uuid.UUID) -> bytes | None:
    """A done chunk's dub audio (PCM16 mono 24 kHz), if it has one."""
    return session.scalar(select(ChunkAudio.pcm).where(ChunkAudio.chunk_id == chunk_id))


def chunk_audio_sizes(session: Session, job_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """The byte length of each of a job's stored dubs, without reading the audio."""
    rows = session.execute(
        select(ChunkAudio.chunk_id, func.length(ChunkAudio.pcm))
        .join(Chunk, Chunk.id == ChunkAudio.chunk_id)
        .where(Chunk.job_id == job_id)
    )
    return {chunk_id: int(size) for chunk_id, size in rows}


def finish_chunk(
    session: Session,
    chunk_id: uuid.UUID,
    *,
    owner: str,
    or_pending: bool = False,
    **values: object,
) -> bool:
    """Closes a running chunk this owner still holds; False if its lease was lost.

    `or_pending` also closes it when its lease was lost but nobody has claimed it since:
    a reply in hand is worth keeping rather than paying for again.
    """
    held = (Chunk.status == ChunkStatus.RUNNING) & (Chunk.lease_owner == owner)
    if or_pending:
        held = held | (Chunk.status == ChunkStatus.PENDING)
    result = session.execute(
        update(Chunk)
        .where(Chunk.id == chunk_id, held)
        .values(lease_until=None, finished_at=now(), **values)
        .returning(Chunk.id)
    )
    return result.first() is not None


def chunks_of(session: Session, job_id: uuid.UUID) -> list[Chunk]:
    return list(
        session.scalars(
            select(Chunk).where(Chunk.job_id == job_id).order_by(Chunk.start_s, Chunk.idx)
        )
    )


def pending_chunk_ids(session: Session, job_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Chunk.id).where(Chunk.job_id == job_id, Chunk.status == ChunkStatus.PENDING)
        )
    )


def next_chunk_index(session: Session, job_id: uuid.UUID) -> int:
    return (
        int(
            session.scalar(
                select(func.coalesce(func.max(Chunk.idx), -1)).where(Chunk.job_id == job_id)
            )
            or 0
        )
        + 1
    )


def planned_from_row(row: Chunk) -> PlannedChunk:
    video = VideoPayload(**row.video) if row.video else None
    return PlannedChunk(
        index=row.idx,
        span=Span(row.start_s, row.end_s),
        speech=tuple(Span(a, b) for a, b in row.speech),
        cost=ChunkCost(
            audio_tokens=row.est_input_audio,
            video_tokens=row.est_input_video,
            output_text_tokens=row.est_output_text,
            output_audio_tokens=row.est_output_audio,
        ),
        video=video,
        cut_through_speech=row.cut_through_speech,
    )


def row_from_planned(planned: PlannedChunk, *, job: Job, parent_idx: int | None = None) -> Chunk:
    video = planned.video
    return Chunk(
        tenant_id=job.tenant_id,
        job_id=job.id,
        idx=planned.index,
        parent_idx=parent_idx,
        start_s=planned.span.start_s,
        end_s=planned.span.end_s,
        speech=[[s.start_s, s.end_s] for s in planned.speech],
        video=(
            {"width": video.width, "height": video.height, "fps": video.fps, "frames": video.frames}
            if video
            else None
        ),
        cut_through_speech=planned.cut_through_speech,
        status=ChunkStatus.SILENT if planned.silent else ChunkStatus.PENDING,
        est_input_audio=planned.cost.audio_tokens,
        est_input_video=planned.cost.video_tokens,
        est_output_text=planned.cost.output_text_tokens,
        est_output_audio=planned.cost.output_audio_tokens,
    )


# --- analyses ---------------------------------------------------------------------------


def cached_analysis(session: Session, tenant_id: uuid.UUID, sha256: str) -> SourceAnalysis | None:
    row = session.get(SourceAnalysisCache, (tenant_id, sha256))
    return SourceAnalysis.from_dict(row.analysis) if row else None


def cache_analysis(
    session: Session, tenant_id: uuid.UUID, sha256: str, analysis: SourceAnalysis
) -> None:
    row = session.get(SourceAnalysisCache, (tenant_id, sha256))
    if row is None:
        session.add(
            SourceAnalysisCache(tenant_id=tenant_id, sha256=sha256, analysis=analysis.as_dict())
        )
    else:
        row.runs += 1  # analysed again: counted, so a missed cache shows up in operations
