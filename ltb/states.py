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


class UsageOutcome(StrEnum):
    """How a provider request ended, as its usage record says; a failed attempt records
    its error code instead (provider_rate_limited, …)."""

    # Begun before the call, not completed yet.
    PENDING = "pending"
    OK = "ok"
    TRUNCATED = "truncated"
    # Left pending by a worker that died; closed by the reaper at the most it could cost.
    ABANDONED = "abandoned"


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
    # Its owner deleted it (DELETE /v1/jobs/{id}) and everything written for it is gone.
    JOB_DELETED = "job.deleted"
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
    # Deliverables: broadcast subtitles, the dub mix, the dubbed video.
    TTML = "ttml"
    MIX_WAV = "mix_wav"
    MP4 = "mp4"
    MKV = "mkv"
    # Realtime engine only: the source transcript and captions built from it.
    TRANSCRIPT = "transcript"
    SOURCE_SRT = "source_srt"
    SOURCE_VTT = "source_vtt"
    BILINGUAL_SRT = "bilingual_srt"


class DubMix(StrEnum):
    """How the dub meets the source's own soundtrack in the mix and the dubbed video."""

    # The dub alone: for a soundtrack that is only speech.
    REPLACE = "replace"
    # The original kept under the dub, ducked while the dub speaks.
    VOICEOVER = "voiceover"


class RevisionReason(StrEnum):
    """Why an output revision was made."""

    CUE_EDIT = "cue_edit"
    REDO = "redo"


class RevisionStatus(StrEnum):
    """pending: queued for a worker | ready: published, the job's outputs | failed."""

    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class UsagePurpose(StrEnum):
    """Why a provider request was made, on its usage record."""

    TRANSLATE = "translate"
    REDO = "redo"


class Priority(StrEnum):
    """A job's place among its own tenant's work: the dispatcher admits a tenant's `high`
    chunks before its `normal` ones, and those before its `low` ones. It never moves a
    job ahead of another tenant's share (docs/architecture.md "Fair scheduling")."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Larger goes first."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK: dict[Priority, int] = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2}
