"""The states a job, a chunk and a webhook event pass through, and the event types.

Each is a StrEnum: a member *is* its string, so rows, API bodies and webhook bodies keep
exactly the values they always had, and SQLAlchemy compares String columns with members
directly. The groups (ACTIVE, FINISHED, …) live here once, so no module keeps its own copy.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ESTIMATED = "estimated"

    @property
    def finished(self) -> bool:
        return self in JOB_FINISHED


# A job that may still change; every other status is final.
JOB_ACTIVE: frozenset[JobStatus] = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
JOB_FINISHED: frozenset[JobStatus] = frozenset(JobStatus) - JOB_ACTIVE


# Where a running job is; null before its plan starts. (No docstring: the API's OpenAPI
# document carries the enums' docstrings as descriptions.)
class JobStage(StrEnum):
    FETCHING = "fetching"
    PROBING = "probing"
    PLANNING = "planning"
    TRANSLATING = "translating"
    ASSEMBLING = "assembling"
    PUBLISHING = "publishing"


# The stages of the plan task: a job in one of them waits for (or runs) its plan.
PLAN_STAGES: tuple[JobStage, ...] = (JobStage.FETCHING, JobStage.PROBING, JobStage.PLANNING)
# The stages of the finalize task: a job in one of them has begun finalizing.
FINALIZE_STAGES: tuple[JobStage, ...] = (JobStage.ASSEMBLING, JobStage.PUBLISHING)


class ChunkStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    # Truncated by the provider and redone as two halves (rows with parent_idx = its idx).
    SPLIT = "split"
    # A long silence: part of the timeline, never sent.
    SILENT = "silent"
    CANCELLED = "cancelled"


# Chunks that are (or will be) sent to the provider: everything but split and silent.
CHUNK_LEAF: frozenset[ChunkStatus] = frozenset(
    {
        ChunkStatus.PENDING,
        ChunkStatus.RUNNING,
        ChunkStatus.DONE,
        ChunkStatus.FAILED,
        ChunkStatus.CANCELLED,
    }
)
# Chunks a claim may still take, given the lease rule for running ones.
CHUNK_ACTIVE: frozenset[ChunkStatus] = frozenset({ChunkStatus.PENDING, ChunkStatus.RUNNING})


class BatchStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class WebhookStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class EventType(StrEnum):
    """The `event` of a webhook (also its LTB-Event header)."""

    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"
    BATCH_COMPLETED = "batch.completed"

    @property
    def about_batch(self) -> bool:
        return self is EventType.BATCH_COMPLETED


# The job statuses that tell the job's callback; `estimated` tells nobody.
JOB_EVENTS: dict[JobStatus, EventType] = {
    JobStatus.SUCCEEDED: EventType.JOB_SUCCEEDED,
    JobStatus.FAILED: EventType.JOB_FAILED,
    JobStatus.CANCELLED: EventType.JOB_CANCELLED,
}


class Engine(StrEnum):
    """What produces a job's outputs: whole files (`qwen3-livetranslate-flash`) or
    realtime sessions (`qwen3-livetranslate-flash-realtime`). An output kind names the
    engines that can build it, so a new engine states which kinds it offers."""

    FILE = "file"
    REALTIME = "realtime"


# ltb/outputs.py says what each kind is.
class OutputKind(StrEnum):
    """What a job can produce (ltb.languages.OUTPUT_KINDS)."""

    TEXT = "text"
    SRT = "srt"
    VTT = "vtt"
    WAV = "wav"
    # Realtime engine only: the source transcript and captions built from it.
    TRANSCRIPT = "transcript"
    SOURCE_SRT = "source_srt"
    SOURCE_VTT = "source_vtt"
    BILINGUAL_SRT = "bilingual_srt"
