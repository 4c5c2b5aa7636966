"""The outside form of a job and a batch: what GET /v1/jobs/{id} and GET /v1/batches/{id}
answer, and the body of every webhook about them. The API publishes these models in its
OpenAPI document (api/ re-exports them); the workers build webhook bodies through them, so
the two can never describe a job differently.

Every model forbids keys it does not declare: a field added on one side and not the other
fails loudly instead of vanishing. The enums name what the service knows (languages,
voices, outputs, statuses); their values are the same strings the database holds.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

# The states and output kinds are the core's own (re-exported for api/ and the OpenAPI
# document); a second copy here could drift from what the workers write.
from ltb.states import BatchStatus as BatchStatus
from ltb.states import DubMix as DubMix
from ltb.states import JobStage as JobStage
from ltb.states import JobStatus as JobStatus
from ltb.states import OutputKind as OutputKind
from ltb.states import Priority as Priority
from ltb.states import RevisionReason as RevisionReason
from ltb.states import RevisionStatus as RevisionStatus


class Language(StrEnum):
    """A language the provider hears and writes (ltb.languages.LANGUAGES)."""

    EN = "en"
    ZH = "zh"
    RU = "ru"
    FR = "fr"
    DE = "de"
    PT = "pt"
    ES = "es"
    IT = "it"
    ID = "id"
    KO = "ko"
    JA = "ja"
    VI = "vi"
    TH = "th"
    AR = "ar"
    YUE = "yue"
    HI = "hi"
    EL = "el"
    TR = "tr"


class Voice(StrEnum):
    """A dub voice (ltb.languages.VOICES); which targets it speaks is checked on submit."""

    CHERRY = "Cherry"
    NOFISH = "Nofish"
    JADA = "Jada"
    DYLAN = "Dylan"
    SUNNY = "Sunny"
    PETER = "Peter"
    ERIC = "Eric"
    KIKI = "Kiki"


def _output_file_kinds() -> type[StrEnum]:
    # Every output kind of the registry, and the manifest: built from OutputKind, so a
    # kind added there is a file the job view may list without a second edit here.
    members = {kind.name: kind.value for kind in OutputKind} | {"MANIFEST": "manifest"}
    kinds = StrEnum("OutputFileKind", members, module=__name__)  # type: ignore[misc]
    kinds.__doc__ = "A file a succeeded job delivers: its outputs and its manifest."
    return kinds


if TYPE_CHECKING:
    OutputFileKind: TypeAlias = str
else:
    OutputFileKind = _output_file_kinds()


class VisualContext(StrEnum):
    OFF = "off"
    ON = "on"


class Provider(StrEnum):
    DASHSCOPE = "dashscope"
    EMULATOR = "emulator"


class Outside(BaseModel):
    """A model of the outside form: every key declared, none other accepted."""

    model_config = ConfigDict(extra="forbid")


class ErrorInfo(Outside):
    code: str = Field(description="Stable, machine-readable: branch on it.")
    message: str = Field(description="For people; it may change.")


class ErrorBody(Outside):
    """Every error the API answers."""

    error: ErrorInfo


class Progress(Outside):
    chunks_done: int
    chunks_total: int
    percent: float


class Estimate(Outside):
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None


class TokenTotals(Outside):
    """Billed tokens by kind, requests and cost: how every usage figure is shown."""

    input_audio_tokens: int
    input_video_tokens: int
    input_text_tokens: int
    output_text_tokens: int
    output_audio_tokens: int
    # Realtime engine: still frames sent as visual context.
    input_image_tokens: int = 0
    total_tokens: int
    requests: int
    cost: float


class Usage(TokenTotals):
    currency: str | None
    price_table: str | None


class OutputFile(Outside):
    kind: OutputFileKind
    uri: str
    url: str | None = Field(description="A time-limited presigned URL.")


class RevisionInfo(Outside):
    """A later set of a job's outputs: its cues edited, or one chunk redone."""

    revision: int = Field(description="Its number; its objects live under `rev-N/`.")
    reason: RevisionReason
    status: RevisionStatus
    chunk_index: int | None = Field(description="The chunk a `redo` translated again.")
    created_at: datetime
    finished_at: datetime | None
    error: ErrorInfo | None


class JobView(Outside):
    """GET /v1/jobs/{id}, and the body of the job.* webhooks."""

    id: uuid.UUID
    status: JobStatus
    stage: JobStage | None
    progress: Progress
    estimate: Estimate
    usage: Usage
    outputs: list[OutputFile]
    error: ErrorInfo | None
    labels: dict[str, str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    source_uri: str
    target_lang: Language
    source_lang: Language | None
    requested_outputs: list[OutputKind]
    visual_context: VisualContext
    batch_id: uuid.UUID | None
    callback_url: str | None
    warnings: list[str]
    provider: Provider | None = Field(
        description="Who answered the job's requests: `emulator` when any request went to "
        "the built-in emulator (placeholder translations); null until one is answered."
    )
    retention_days: int | None = Field(
        default=None,
        description="The job's keep period in days: the shorter of its request's and its "
        "tenant's; null keeps its outputs until it is deleted.",
    )
    expires_at: datetime | None = Field(
        default=None, description="When its outputs are due for deletion; null if never."
    )
    deleted_at: datetime | None = Field(
        default=None, description="When its owner deleted it (DELETE /v1/jobs/{id})."
    )
    outputs_expired_at: datetime | None = Field(
        default=None,
        description="When every object written for it was deleted (retention or deletion); "
        "from then on it lists no outputs. Its usage stays.",
    )
    output_revision: int = Field(
        description="The revision `outputs` lists: 0 as finalized (in the output prefix "
        "itself), N once revision N is ready (under `rev-N/`)."
    )
    revisions: list[RevisionInfo] = Field(
        description="Revisions after the first, oldest first: cue edits and redone chunks."
    )
    priority: Priority = Field(
        default=Priority.NORMAL, description="Its order among its tenant's own jobs."
    )
    eta_s: float | None = Field(
        default=None,
        description="Seconds until the job should finish, from the work ahead of it in its "
        "tenant's line and the tenant's share of the quota (docs/architecture.md \"Fair "
        'scheduling"); 0 once it has ended; null while nothing says what it costs.',
    )


class BatchProgress(Outside):
    jobs_finished: int
    jobs_total: int
    percent: float
    chunks_done: int
    chunks_total: int


class BatchUsage(TokenTotals):
    currency: str | None


class Failure(Outside):
    job_id: uuid.UUID
    source_uri: str
    target_lang: Language
    code: str | None
    message: str


class BatchView(Outside):
    """GET /v1/batches/{id}, and the body of the batch.completed webhook."""

    id: uuid.UUID
    status: BatchStatus
    created_at: datetime
    completed_at: datetime | None
    source_prefix: str | None
    target_langs: list[Language]
    labels: dict[str, str]
    callback_url: str | None
    jobs_total: int
    counts: dict[JobStatus, int] = Field(description="Jobs by status; every status is present.")
    by_target: dict[Language, dict[JobStatus, int]] = Field(
        description="Jobs by target language, then by status."
    )
    progress: BatchProgress
    usage: BatchUsage
    failures: list[Failure] = Field(description="The first 100 failed jobs, oldest first.")
    failure_codes: dict[str, int] = Field(description="Failed jobs by error code, all of them.")
    priority: Priority = Field(
        default=Priority.NORMAL, description="The priority each of its jobs has."
    )
    eta_s: float | None = Field(
        default=None,
        description="Seconds until its last job should finish, as that job's `eta_s`; 0 once "
        "every job has ended.",
    )
