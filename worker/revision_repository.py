"""The queries about a job's cues and output revisions that the workers make."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, ChunkAudio, Job, JobCue, JobRevision
from ltb.states import ChunkStatus, RevisionStatus
from pipeline.subtitles import Cue


def store_cues(session: Session, job_id: uuid.UUID, *, revision: int, cues: Sequence[Cue]) -> None:
    """The cues revision `revision` was written from, numbered from 1 in timeline order."""
    session.execute(delete(JobCue).where(JobCue.job_id == job_id, JobCue.revision == revision))
    session.add_all(
        JobCue(
            job_id=job_id,
            revision=revision,
            idx=number,
            start_s=cue.start_s,
            end_s=cue.end_s,
            text="\n".join(cue.lines),
        )
        for number, cue in enumerate(cues, start=1)
    )


def cues_of(session: Session, job_id: uuid.UUID, revision: int) -> list[Cue]:
    rows = session.scalars(
        select(JobCue)
        .where(JobCue.job_id == job_id, JobCue.revision == revision)
        .order_by(JobCue.idx)
    )
    return [Cue(start_s=r.start_s, end_s=r.end_s, lines=tuple(r.text.split("\n"))) for r in rows]


def claim(
    session: Session, job_id: uuid.UUID, revision: int, *, held_s: float
) -> JobRevision | None:
    """Takes a pending revision for this task and counts the claim; None when it is
    written already, or another task claimed it less than `held_s` ago."""
    moment = datetime.now(UTC)
    claimed = session.execute(
        update(JobRevision)
        .where(
            JobRevision.job_id == job_id,
            JobRevision.revision == revision,
            JobRevision.status == RevisionStatus.PENDING,
            or_(
                JobRevision.claimed_at.is_(None),
                JobRevision.claimed_at < moment - timedelta(seconds=held_s),
            ),
        )
        .values(claimed_at=moment, attempts=JobRevision.attempts + 1)
        .returning(JobRevision.revision)
    ).first()
    if claimed is None:
        return None
    return session.get(JobRevision, (job_id, revision), populate_existing=True)


def lost(
    session: Session, *, quiet_since: datetime, dead_since: datetime, queue_empty: bool
) -> list[tuple[uuid.UUID, int]]:
    """Pending revisions whose task is gone: never claimed and quiet while the queue is
    empty (the message was lost), or claimed before the task time limit (the worker died)."""
    unclaimed = and_(JobRevision.claimed_at.is_(None), JobRevision.created_at < quiet_since)
    abandoned = JobRevision.claimed_at < dead_since
    rows = session.execute(
        select(JobRevision.job_id, JobRevision.revision).where(
            JobRevision.status == RevisionStatus.PENDING,
            or_(abandoned, unclaimed) if queue_empty else abandoned,
        )
    )
    return [(job_id, revision) for job_id, revision in rows]


def done_chunk(session: Session, job_id: uuid.UUID, idx: int) -> Chunk | None:
    return session.scalar(
        select(Chunk).where(
            Chunk.job_id == job_id, Chunk.idx == idx, Chunk.status == ChunkStatus.DONE
        )
    )


def replace_chunk_result(
    session: Session, chunk_id: uuid.UUID, *, text: str, finish_reason: str | None, pcm: bytes
) -> None:
    """A redone chunk's new translation (and dub), which every later revision is built from."""
    session.execute(
        update(Chunk)
        .where(Chunk.id == chunk_id)
        .values(result_text=text, finish_reason=finish_reason, result_audio_uri=None)
    )
    session.execute(delete(ChunkAudio).where(ChunkAudio.chunk_id == chunk_id))
    if pcm:
        session.add(ChunkAudio(chunk_id=chunk_id, pcm=pcm))


def publish(session: Session, job_id: uuid.UUID, revision: int) -> None:
    """Revision `revision` is written: it becomes the job's outputs (never an older one)."""
    session.execute(
        update(JobRevision)
        .where(JobRevision.job_id == job_id, JobRevision.revision == revision)
        .values(status=RevisionStatus.READY, finished_at=datetime.now(UTC))
    )
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.output_revision < revision)
        .values(output_revision=revision)
    )


def fail(session: Session, job_id: uuid.UUID, revision: int, *, code: str, message: str) -> None:
    """The revision could not be written; the job keeps the outputs it had."""
    session.execute(
        update(JobRevision)
        .where(
            JobRevision.job_id == job_id,
            JobRevision.revision == revision,
            JobRevision.status == RevisionStatus.PENDING,
        )
        .values(
            status=RevisionStatus.FAILED,
            error_code=code,
            error_message=message,
            finished_at=datetime.now(UTC),
        )
    )
