"""What crosses the wire for jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OutputKind = Literal["text", "srt", "vtt", "wav"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "estimated"]
JobStage = Literal["fetching", "probing", "planning", "translating", "assembling", "publishing"]


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_input_tokens: int | None = Field(default=None, ge=1)
    max_cost: Decimal | None = Field(default=None, gt=0)


class JobCreate(BaseModel):
    """POST /v1/jobs"""

    model_config = ConfigDict(extra="forbid")

    source_uri: str = Field(description="s3://bucket/key of the audio or video to translate.")
    target_lang: str = Field(description="Target language code, e.g. en, zh, ja.")
    source_lang: str | None = Field(default=None, description="Source language; omit to detect.")
    outputs: list[OutputKind] = Field(default=["text", "srt"], min_length=1)
    voice: str | None = Field(default=None, description="Dub voice (with outputs including wav).")
    visual_context: Literal["off", "on"] = "off"
    output_prefix: str | None = Field(
        default=None,
        description="s3://bucket/prefix/ for the outputs; default under the output bucket.",
    )
    budget: Budget | None = None
    labels: dict[str, str] = Field(default_factory=dict, max_length=32)
    estimate_only: bool = False
    callback_url: str | None = Field(
        default=None,
        description="Receives job.succeeded, job.failed or job.cancelled, signed (see README).",
    )


class Progress(BaseModel):
    chunks_done: int
    chunks_total: int
    percent: float


class Estimate(BaseModel):
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None


class TokenTotals(BaseModel):
    """Billed tokens by kind, requests and cost: how every usage figure is shown."""

    input_audio_tokens: int
    input_video_tokens: int
    input_text_tokens: int
    output_text_tokens: int
    output_audio_tokens: int
    total_tokens: int
    requests: int
    cost: float


class Usage(TokenTotals):
    currency: str | None
    price_table: str | None


class OutputFile(BaseModel):
    kind: Literal["text", "srt", "vtt", "wav", "manifest"]
    uri: str
    url: str | None = Field(description="A time-limited presigned URL.")


class ErrorInfo(BaseModel):
    code: str
    message: str


class JobView(BaseModel):
    """GET /v1/jobs/{id}"""

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
    target_lang: str
    source_lang: str | None
    requested_outputs: list[OutputKind]
    visual_context: Literal["off", "on"]
    batch_id: uuid.UUID | None
    callback_url: str | None
    warnings: list[str]
    provider: Literal["dashscope", "emulator"] | None = Field(
        description="Who answered the job's requests: `emulator` when any request went to "
        "the built-in emulator (placeholder translations); null until one is answered."
    )


class JobPage(BaseModel):
    jobs: list[JobView]
    next_cursor: str | None
