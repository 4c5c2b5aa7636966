"""What crosses the wire for batches."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.jobs.schemas import Budget, OutputKind, TokenTotals


class BatchCreate(BaseModel):
    """POST /v1/batches: either `sources` or `source_prefix`, and the target languages."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] | None = Field(
        default=None, min_length=1, description="s3://bucket/key of each source."
    )
    source_prefix: str | None = Field(
        default=None,
        description="s3://bucket/prefix/: every media file under it (paginated listing).",
    )
    target_langs: list[str] = Field(min_length=1, max_length=18)
    source_lang: str | None = None
    outputs: list[OutputKind] = Field(default=["text", "srt"], min_length=1)
    voice: str | None = Field(
        default=None, description="Dub voice for every target that has no entry in `voices`."
    )
    voices: dict[str, str] = Field(
        default_factory=dict, description="Dub voice per target language."
    )
    visual_context: Literal["off", "on"] = "off"
    labels: dict[str, str] = Field(default_factory=dict, max_length=32)
    budget: Budget | None = Field(default=None, description="Applies to each job.")
    callback_url: str | None = Field(
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
