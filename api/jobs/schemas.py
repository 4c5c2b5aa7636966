"""What crosses the wire for jobs."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

OutputKind = Literal["text", "srt", "vtt", "wav"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "estimated"]
JobStage = Literal["fetching", "probing", "planning", "translating", "assembling", "publishing"]

# Labels ride along on every usage row and report: short keys and values, a small total.
MAX_LABELS = 32
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 256
MAX_LABELS_BYTES = 4096
# An s3:// URI (bucket ≤ 63, key ≤ 1,024 bytes) or a callback URL fits with room to spare.
MAX_URI = 2048
# Far above any real job, far below what the columns hold: a budget is a limit, not a number
# to overflow a database column with.
MAX_BUDGET_TOKENS = 10**12
MAX_BUDGET_COST = Decimal(10**9)


def _labels_fit(labels: dict[str, str]) -> dict[str, str]:
    size = len(json.dumps(labels, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_LABELS_BYTES:
        raise ValueError(
            f"labels take {size} bytes as JSON; at most {MAX_LABELS_BYTES} are allowed"
        )
    return labels


LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_KEY)]
LabelValue = Annotated[str, StringConstraints(max_length=MAX_LABEL_VALUE)]
Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(
        max_length=MAX_LABELS,
        description=f"Up to {MAX_LABELS} name: value pairs (names ≤ {MAX_LABEL_KEY} "
        f"characters, values ≤ {MAX_LABEL_VALUE}, {MAX_LABELS_BYTES} bytes in all).",
    ),
    AfterValidator(_labels_fit),
]
Uri = Annotated[str, StringConstraints(max_length=MAX_URI)]


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_input_tokens: int | None = Field(default=None, ge=1, le=MAX_BUDGET_TOKENS)
    max_cost: Decimal | None = Field(
        default=None, gt=0, le=MAX_BUDGET_COST, decimal_places=8, allow_inf_nan=False
    )


class JobCreate(BaseModel):
    """POST /v1/jobs"""

    model_config = ConfigDict(extra="forbid")

    source_uri: Uri = Field(description="s3://bucket/key of the audio or video to translate.")
    target_lang: str = Field(max_length=16, description="Target language code, e.g. en, zh, ja.")
    source_lang: str | None = Field(
        default=None, max_length=16, description="Source language; omit to detect."
    )
    outputs: list[OutputKind] = Field(default=["text", "srt"], min_length=1)
    voice: str | None = Field(
        default=None, max_length=64, description="Dub voice (with outputs including wav)."
    )
    visual_context: Literal["off", "on"] = "off"
    output_prefix: Uri | None = Field(
        default=None,
        description="s3://bucket/prefix/ for the outputs; default under the output bucket.",
    )
    budget: Budget | None = None
    labels: Labels = Field(default_factory=dict)
    estimate_only: bool = False
    callback_url: Uri | None = Field(
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
