"""The reaper's queries: work whose worker died or whose message was lost, and jobs that
ended without removing their work objects. worker/reaper.py says what each rule means."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, Job
from ltb.states import FINALIZE_STAGES, JOB_ACTIVE, PLAN_STAGES, ChunkStatus, JobStage, JobStatus


def expired_leases(session: Session, moment: datetime) -> list[tuple[Chunk, list[str]]]:
    """Running chunks whose lease ran out (their holder died), locked, with their job's
    outputs; a chunk another sweep holds is skipped."""
    rows = session.execute(
        select(Chunk, Job.outputs)
        .join(Job, Job.id == Chunk.job_id)
        .where(Chunk.status == ChunkStatus.RUNNING, Chunk.lease_until < moment)
        .with_for_update(of=Chunk, skip_locked=True)
    ).all()
    return [(chunk, list(outputs)) for chunk, outputs in rows]


def lost_chunks(session: Session, stale: datetime) -> list[uuid.UUID]:
    """Admitted pending chunks of running jobs that have not moved since `stale` (chunks
    not admitted yet are the dispatcher's, which every sweep runs)."""
    return list(
        session.scalars(
            select(Chunk.id)
            .join(Job, Job.id == Chunk.job_id)
            .where(
                Chunk.status == ChunkStatus.PENDING,
                Chunk.admitted_at.is_not(None),
                Chunk.updated_at < stale,
                Job.status == JobStatus.RUNNING,
            )
        )
    )


def _before_plan() -> ColumnElement[bool]:
    """A job with no stage yet, or in a plan stage."""
    return func.coalesce(Job.stage, "").in_(("", *PLAN_STAGES))


def lost_plans(session: Session, stale: datetime) -> list[uuid.UUID]:
    """Queued jobs, and running ones not planned yet, that have not moved since `stale`."""
    return list(
        session.scalars(
            select(Job.id).where(
                Job.updated_at < stale,
                (Job.status == JobStatus.QUEUED)
                | ((Job.status == JobStatus.RUNNING) & _before_plan()),
            )
        )
    )


def lost_finalizes(session: Session, stale: datetime) -> list[uuid.UUID]:
    """Running jobs with every chunk done, never finalized, not moved since `stale`."""
    return list(
        session.scalars(
            select(Job.id).where(
                Job.status == JobStatus.RUNNING,
                Job.stage == JobStage.TRANSLATING,
                Job.chunks_done >= Job.chunks_total,
                Job.updated_at < stale,
            )
        )
    )


def _silent_since(stale: datetime) -> ColumnElement[bool]:
    """The job's plan or finalize has not beaten its heartbeat since `stale`."""
    return func.coalesce(Job.heartbeat_at, Job.updated_at) < stale


def take_back_stalled_finalizes(session: Session, stale: datetime) -> list[uuid.UUID]:
    """Running jobs whose finalize fell silent, put back to translating so a finalize
    may take them again; returns their ids."""
    stalled = list(
        session.scalars(
            select(Job.id).where(
                Job.status == JobStatus.RUNNING,
                Job.stage.in_(FINALIZE_STAGES),
                _silent_since(stale),
            )
        )
    )
    if stalled:
        session.execute(
            update(Job).where(and_(Job.id.in_(stalled))).values(stage=JobStage.TRANSLATING)
        )
    return stalled


def touch(
    session: Session,
    moment: datetime,
    *,
    chunk_ids: Sequence[uuid.UUID],
    job_ids: Sequence[uuid.UUID],
) -> None:
    """Marks re-sent chunks and jobs as moved, so the next sweep does not send them again."""
    if chunk_ids:
        session.execute(update(Chunk).where(Chunk.id.in_(chunk_ids)).values(updated_at=moment))
    if job_ids:
        session.execute(update(Job).where(Job.id.in_(job_ids)).values(updated_at=moment))


def exhausted_plans(session: Session, stale: datetime, *, max_attempts: int) -> list[uuid.UUID]:
    """Running jobs whose plan fell silent on its last allowed attempt."""
    return _silent_running(session, stale, _before_plan() & (Job.plan_attempts >= max_attempts))


def exhausted_finalizes(session: Session, stale: datetime, *, max_attempts: int) -> list[uuid.UUID]:
    """Running jobs whose finalize fell silent on its last allowed attempt."""
    return _silent_running(
        session,
        stale,
        Job.stage.in_(FINALIZE_STAGES) & (Job.finalize_attempts >= max_attempts),
    )


def _silent_running(
    session: Session, stale: datetime, rule: ColumnElement[bool]
) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Job.id).where(Job.status == JobStatus.RUNNING, _silent_since(stale), rule)
        )
    )


class StuckCandidate(NamedTuple):
    id: uuid.UUID
    status: str
    stage: str | None
    chunks_done: int
    chunks_total: int
    has_pending: bool


def stuck_candidates(
    session: Session, moment: datetime, *, idle_since: datetime, alive: datetime, limit: int
) -> list[StuckCandidate]:
    """Active jobs with no progress since `idle_since` and nothing of their own in flight:
    no chunk on a live lease, none claimed or finished since, no heartbeat since `alive`."""
    own_chunk_moved = exists().where(
        Chunk.job_id == Job.id,
        or_(
            (Chunk.status == ChunkStatus.RUNNING) & (Chunk.lease_until >= moment),
            Chunk.started_at >= idle_since,
            Chunk.finished_at >= idle_since,
        ),
    )
    has_pending = (
        exists()
        .where(Chunk.job_id == Job.id, Chunk.status == ChunkStatus.PENDING)
        .label("has_pending")
    )
    rows = session.execute(
        select(Job.id, Job.status, Job.stage, Job.chunks_done, Job.chunks_total, has_pending)
        .where(
            Job.status.in_(JOB_ACTIVE),
            func.coalesce(Job.progress_at, Job.created_at) < idle_since,
            or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < alive),
            ~own_chunk_moved,
        )
        .limit(limit)
    ).all()
    return [StuckCandidate(*row) for row in rows]


def work_in_flight(session: Session, moment: datetime, alive: datetime) -> bool:
    """Whether any job has a chunk on a live lease or a plan or finalize beating."""
    chunk = session.scalar(
        select(Chunk.id)
        .where(Chunk.status == ChunkStatus.RUNNING, Chunk.lease_until >= moment)
        .limit(1)
    )
    if chunk is not None:
        return True
    step = session.scalar(
        select(Job.id).where(Job.status == JobStatus.RUNNING, Job.heartbeat_at >= alive).limit(1)
    )
    return step is not None


def jobs_with_work_left(session: Session, *, ended_before: datetime, limit: int) -> list[uuid.UUID]:
    """Succeeded and cancelled jobs, ended before `ended_before`, whose work objects were
    never removed; the longest ended first."""
    return list(
        session.scalars(
            select(Job.id)
            .where(
                Job.status.in_((JobStatus.SUCCEEDED, JobStatus.CANCELLED)),
                Job.work_removed_at.is_(None),
                Job.finished_at < ended_before,
            )
            .order_by(Job.finished_at)
            .limit(limit)
        )
    )
