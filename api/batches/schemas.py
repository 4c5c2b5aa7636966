"""What crosses the wire for batches."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.jobs.schemas import (
    DUB_MIX_HELP,
    DUCK_DB_HELP,
    Budget,
    CallbackUrl,
    DubMix,
    DuckDb,
    Labels,
    LanguageCode,
    OutputKind,
    RetentionDays,
    S3Prefix,
    S3Uri,
    VisualContext,
    VoiceName,
)
from ltb.languages import LANGUAGES
from ltb.outputs import DEFAULT_DUB_MIX, DEFAULT_DUCK_DB
from ltb.schemas import BatchView
from ltb.states import Engine, Priority

__all__ = ["BatchCreate", "BatchView"]

# The most sources one batch may name; LTB_MAX_BATCH_JOBS caps sources × targets below it.
MAX_SOURCES = 50_000


class BatchCreate(BaseModel):
    """POST /v1/batches: either `sources` or `source_prefix`, and the target languages."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    sources: list[S3Uri] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SOURCES,
        description=f"s3://bucket/key of each source, at most {MAX_SOURCES:,}.",
    )
    source_prefix: S3Prefix | None = Field(
        default=None,
        description="s3://bucket/prefix/: every media file under it (paginated listing).",
    )
    target_langs: list[LanguageCode] = Field(min_length=1, max_length=len(LANGUAGES))
    source_lang: LanguageCode | None = None
    outputs: list[OutputKind] = Field(default=[OutputKind.TEXT, OutputKind.SRT], min_length=1)
    voice: VoiceName | None = Field(
        default=None, description="Dub voice for every target that has no entry in `voices`."
    )
    voices: dict[LanguageCode, VoiceName] = Field(
        default_factory=dict,
        max_length=len(LANGUAGES),
        description="Dub voice per target language (each one of `target_langs`).",
    )
    dub_mix: DubMix = Field(default=DEFAULT_DUB_MIX, description=DUB_MIX_HELP)
    duck_db: DuckDb = Field(default=DEFAULT_DUCK_DB, description=DUCK_DB_HELP)
    visual_context: VisualContext = VisualContext.OFF
    labels: Labels = Field(default_factory=dict)
    budget: Budget | None = Field(default=None, description="Applies to each job.")
    priority: Priority = Field(
        default=Priority.NORMAL,
        description="Order among this tenant's own jobs (for each job of the batch): high before normal before low. "
        "It never moves the job ahead of other tenants' fair shares.",
    )
    callback_url: CallbackUrl | None = Field(
        default=None, description="Receives job.* for each job and batch.completed at the end."
    )
    estimate_only: bool = False
    retention_days: RetentionDays | None = Field(
        default=None,
        description="Delete each job's outputs this many days after it finishes; at most "
        "the tenant's period (`retention_too_long`).",
    )
    engine: Engine = Field(
        default=Engine.FILE,
        description="file or realtime, for every job (see JobCreate.engine).",
    )

    @model_validator(mode="after")
    def _one_source_kind(self) -> BatchCreate:
        if (self.sources is None) == (self.source_prefix is None):
            raise ValueError("give either sources or source_prefix, not both and not neither")
        return self
