"""What crosses the wire for batches."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.jobs.schemas import Budget, Labels, OutputKind, TokenTotals, Uri

# The most sources one batch may name; LTB_MAX_BATCH_JOBS caps sources × targets below it.
MAX_SOURCES = 50_000
Lang = Annotated[str, StringConstraints(max_length=16)]
Voice = Annotated[str, StringConstraints(max_length=64)]


class BatchCreate(BaseModel):
    """POST /v1/batches: either `sources` or `source_prefix`, and the target languages."""

    model_config = ConfigDict(extra="forbid")

    sources: list[Uri] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SOURCES,
        description=f"s3://bucket/key of each source, at most {MAX_SOURCES:,}.",
    )
    source_prefix: Uri | None = Field(
        default=None,
        description="s3://bucket/prefix/: every media file under it (paginated listing).",
    )
    target_langs: list[Lang] = Field(min_length=1, max_length=18)
    source_lang: Lang | None = None
    outputs: list[OutputKind] = Field(default=["text", "srt"], min_length=1)
    voice: Voice | None = Field(
        default=None, description="Dub voice for every target that has no entry in `voices`."
    )
    voices: dict[Lang, Voice] = Field(
        default_factory=dict, max_length=18, description="Dub voice per target language."
    )
    visual_context: Literal["off", "on"] = "off"
    labels: Labels = Field(default_factory=dict)
    budget: Budget | None = Field(default=None, description="Applies to each job.")
    callback_url: Uri | None = Field(
        default=None, description="Receives job.* for each job and batch.completed at the end."
    )
    estimate_only: bool = False

    @model_validator(mode="after")
    def _one_source_kind(self) -> BatchCreate:
        if (self.sources is None) == (self.source_prefix is None):
            raise ValueError("give either sources or source_prefix, not both and not neither")
        return self


class BatchProgress(BaseModel):
    jobs_finished: int
    jobs_total: int
    percent: float
    chunks_done: int
    chunks_total: int


class BatchUsage(TokenTotals):
    currency: str | None


class Failure(BaseModel):
    job_id: uuid.UUID
    source_uri: str
    target_lang: str
    code: str | None
    message: str


class BatchView(BaseModel):
    """GET /v1/batches/{id}"""

    id: uuid.UUID
    status: Literal["open", "completed", "cancelled"]
    created_at: datetime
    completed_at: datetime | None
    source_prefix: str | None
    target_langs: list[str]
    labels: dict[str, str]
    callback_url: str | None
    jobs_total: int
    counts: dict[str, int]
    by_target: dict[str, dict[str, int]]
    progress: BatchProgress
    usage: BatchUsage
    failures: list[Failure]
    failure_codes: dict[str, int]
