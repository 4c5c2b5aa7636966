"""What crosses the wire for jobs."""

from __future__ import annotations

import json
from collections.abc import Collection
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from ltb.languages import LANGUAGES, VOICES
from ltb.outputs import DEFAULT_DUB_MIX, DEFAULT_DUCK_DB, MAX_DUCK_DB, MIN_DUCK_DB
from ltb.retention import MAX_RETENTION_DAYS
from ltb.schemas import (
    BatchProgress,
    BatchStatus,
    BatchUsage,
    BatchView,
    DubMix,
    ErrorBody,
    ErrorInfo,
    Estimate,
    Failure,
    JobStage,
    JobStatus,
    JobView,
    Language,
    OutputFile,
    OutputFileKind,
    OutputKind,
    Outside,
    Progress,
    Provider,
    TokenTotals,
    Usage,
    VisualContext,
    Voice,
)
from ltb.states import Engine, Priority

# The outside view lives in ltb.schemas (the workers build webhook bodies with it); the
# API publishes it from here.
__all__ = [
    "BatchProgress",
    "BatchStatus",
    "BatchUsage",
    "BatchView",
    "Budget",
    "DubMix",
    "ErrorBody",
    "ErrorInfo",
    "Estimate",
    "Failure",
    "JobCreate",
    "JobPage",
    "JobStage",
    "JobStatus",
    "JobView",
    "Language",
    "OutputFile",
    "OutputFileKind",
    "OutputKind",
    "Progress",
    "Provider",
    "TokenTotals",
    "Usage",
    "VisualContext",
    "Voice",
]

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

# The shapes the service accepts, published as patterns. The server's own checks
# (ltb.storage.ObjectRef, ltb.webhooks) stay the judges, with their own error codes; a
# value that matches a pattern passes them, short of rules a pattern cannot say (key
# length in bytes, what a host name resolves to).
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
# A key segment: no "/", no control character, not empty, "." or "..".
_SEGMENT = (
    r"(?:[^/\x00-\x1f\x7f.][^/\x00-\x1f\x7f]*"
    r"|\.[^/\x00-\x1f\x7f.][^/\x00-\x1f\x7f]*"
    r"|\.\.[^/\x00-\x1f\x7f]+)"
)
S3_OBJECT_PATTERN = rf"^s3://{_BUCKET}/{_SEGMENT}(?:/{_SEGMENT})*/?$"
S3_PREFIX_PATTERN = rf"^s3://{_BUCKET}(?:/(?:{_SEGMENT}/)*(?:{_SEGMENT})?)?$"
# A host name, or an IPv6 address in brackets; an optional port; then anything but spaces.
CALLBACK_PATTERN = r"^https?://(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#@:\[\]]+)(?::[0-9]{1,5})?(?:[/?#]\S*)?$"


S3Uri = Annotated[
    Uri,
    Field(
        description="s3://bucket/key; the key at most 1,024 bytes of UTF-8.",
        json_schema_extra={"pattern": S3_OBJECT_PATTERN},
    ),
]
S3Prefix = Annotated[
    Uri,
    Field(
        description="s3://bucket/prefix/",
        json_schema_extra={"pattern": S3_PREFIX_PATTERN},
    ),
]
CallbackUrl = Annotated[
    Uri,
    Field(
        description="An http(s) URL on a public host, without credentials.",
        json_schema_extra={"pattern": CALLBACK_PATTERN},
    ),
]

RetentionDays = Annotated[int, Field(ge=1, le=MAX_RETENTION_DAYS)]


def _known(names: Collection[str], code: str, what: str) -> BeforeValidator:
    known = " ".join(names)

    def check(value: object) -> object:
        # An unknown name gets the code clients already branch on; anything else (a
        # number, a list) is left to the enum, as a plain invalid_request.
        if isinstance(value, str) and value not in names:
            raise PydanticCustomError(
                code,
                "unknown {what} {value}; use one of: {known}",
                {"what": what, "value": repr(value[:64]), "known": known},
            )
        return value

    return BeforeValidator(check)


LanguageCode = Annotated[Language, _known(LANGUAGES, "unknown_language", "language")]
VoiceName = Annotated[Voice, _known(VOICES, "unknown_voice", "voice")]
# Validation errors of these types answer with their own code, not invalid_request.
CODED_ERRORS = frozenset({"unknown_language", "unknown_voice"})


# The mix fields, shared by jobs and batches.
DuckDb = Annotated[float, Field(ge=MIN_DUCK_DB, le=MAX_DUCK_DB, allow_inf_nan=False)]
DUB_MIX_HELP = (
    "How the dub meets the source's soundtrack in mix_wav, mp4 and mkv: `replace` (the dub "
    "alone) or `voiceover` (the original kept under the dub, ducked while it speaks)."
)
DUCK_DB_HELP = (
    f"How far a voiceover lowers the original while the dub speaks, in dB "
    f"({MIN_DUCK_DB:g} to {MAX_DUCK_DB:g})."
)


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_input_tokens: int | None = Field(default=None, ge=1, le=MAX_BUDGET_TOKENS)
    max_cost: Decimal | None = Field(
        default=None, gt=0, le=MAX_BUDGET_COST, decimal_places=8, allow_inf_nan=False
    )


class JobCreate(BaseModel):
    """POST /v1/jobs"""

    # Services get plain strings, as they always have; the schema shows the enums.
    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    source_uri: S3Uri = Field(
        description="s3://bucket/key of the audio or video to translate (a key of at most "
        "1,024 bytes of UTF-8)."
    )
    target_lang: LanguageCode = Field(description="Target language code, e.g. en, zh, ja.")
    source_lang: LanguageCode | None = Field(
        default=None, description="Source language; omit to detect."
    )
    outputs: list[OutputKind] = Field(default=[OutputKind.TEXT, OutputKind.SRT], min_length=1)
    voice: VoiceName | None = Field(
        default=None,
        description="Dub voice (with spoken outputs: wav, mix_wav, mp4, mkv); it must speak "
        "the target.",
    )
    dub_mix: DubMix = Field(default=DEFAULT_DUB_MIX, description=DUB_MIX_HELP)
    duck_db: DuckDb = Field(default=DEFAULT_DUCK_DB, description=DUCK_DB_HELP)
    visual_context: VisualContext = VisualContext.OFF
    output_prefix: S3Prefix | None = Field(
        default=None,
        description="s3://bucket/prefix/ for the outputs; default under the output bucket.",
    )
    budget: Budget | None = None
    priority: Priority = Field(
        default=Priority.NORMAL,
        description="Order among this tenant's own jobs: high before normal before low. "
        "It never moves the job ahead of other tenants' fair shares.",
    )
    labels: Labels = Field(default_factory=dict)
    estimate_only: bool = False
    callback_url: CallbackUrl | None = Field(
        default=None,
        description="Receives job.succeeded, job.failed, job.cancelled or job.deleted, signed "
        "(see README).",
    )
    retention_days: RetentionDays | None = Field(
        default=None,
        description="Delete the job's outputs this many days after it finishes; at most "
        "the tenant's period (`retention_too_long`). Omit to keep the tenant's.",
    )
    engine: Engine = Field(
        default=Engine.FILE,
        description="file: whole chunks (qwen3-livetranslate-flash); realtime: WebSocket "
        "sessions (qwen3-livetranslate-flash-realtime), which needs source_lang.",
    )


class JobPage(Outside):
    jobs: list[JobView]
    next_cursor: str | None = Field(description="Pass it back as `cursor` for the next page.")
