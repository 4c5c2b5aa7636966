"""The tables. Every one carries tenant_id from day one (docs/architecture.md "Data model")."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ltb.states import BatchStatus, ChunkStatus, JobStatus, Priority, UsageOutcome, WebhookStatus

JsonType = JSON().with_variant(JSONB(), "postgresql")
Money = Numeric(20, 8)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps in UTC on every database. SQLite keeps no time zone, so values are
    stored as naive UTC and read back as aware UTC; comparisons then agree everywhere."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JsonType,
        list[Any]: JsonType,
        datetime: UtcDateTime(),
        Decimal: Money,
    }


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Folders (s3://bucket/prefix/) this tenant's jobs may read sources from.
    read_prefixes: Mapped[list[Any]] = mapped_column(default=list)
    # Folders its jobs may write outputs to, besides its default output folder.
    write_prefixes: Mapped[list[Any]] = mapped_column(default=list)
    # Signs this tenant's webhooks (HMAC-SHA256); shown by `ltb tenants show`.
    webhook_secret: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(32))
    # Days a finished job's outputs and copies are kept; None keeps them until deleted.
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)
    # Its share of the account quota against other tenants with work waiting (fair scheduling).
    weight: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # At most this many of its chunks in flight at once; None: only the dispatch window.
    max_concurrent_chunks: Mapped[int | None] = mapped_column(Integer, default=None)
    # New jobs are refused once this calendar month's booked tokens reach it; None: no budget.
    monthly_token_budget: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.id


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("operator OR tenant_id IS NOT NULL", name="ck_api_keys_operator_or_tenant"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # NULL for an operator key, which belongs to no tenant (the check below).
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    # Reads every tenant through the console's fleet view, and nothing else.
    operator: Mapped[bool] = mapped_column(default=False, server_default=false())
    # SHA-256 of the key: keys are 256-bit random, so a slow hash buys nothing.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key's first characters, so a user can tell keys apart without the secret.
    display_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Batch(Base):
    """One request for many jobs: sources × target languages, with shared options."""

    __tablename__ = "batches"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_batches_tenant_idempotency_key"),
        Index("ix_batches_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    source_prefix: Mapped[str | None] = mapped_column(Text, default=None)
    target_langs: Mapped[list[Any]] = mapped_column()
    # The job options every job of the batch shares (outputs, voices, visual context, ...).
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    callback_url: Mapped[str | None] = mapped_column(Text, default=None)
    # Given to each of its jobs (a Priority).
    priority: Mapped[str] = mapped_column(
        String(8), default=Priority.NORMAL, server_default="normal"
    )
    # open: jobs still to finish | completed: every job finished | cancelled
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.OPEN)
    jobs_total: Mapped[int] = mapped_column(Integer, default=0)
    # Counted up by each job that ends; the job that makes it equal jobs_total completes the batch.
    jobs_finished: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idempotency_key"),
        Index("ix_jobs_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_jobs_status", "status"),
        # The retention sweep reads finished jobs whose outputs still exist.
        Index(
            "ix_jobs_unexpired_finished",
            "finished_at",
            postgresql_where=text("outputs_expired_at IS NULL AND finished_at IS NOT NULL"),
            sqlite_where=text("outputs_expired_at IS NULL AND finished_at IS NOT NULL"),
        ),
        CheckConstraint("dub_mix IN ('replace', 'voiceover')", name="ck_jobs_dub_mix"),
        CheckConstraint("duck_db BETWEEN -40 AND 0", name="ck_jobs_duck_db"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), default=None, index=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    # SHA-256 of the canonical request body: the same key with another body is a conflict.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)

    source_uri: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    source_lang: Mapped[str | None] = mapped_column(String(8), default=None)  # None: detect
    target_lang: Mapped[str] = mapped_column(String(8))
    outputs: Mapped[list[Any]] = mapped_column()
    voice: Mapped[str | None] = mapped_column(String(32), default=None)
    visual_context: Mapped[bool] = mapped_column(Boolean, default=False)
    # How the dub meets the source's soundtrack in mix_wav, mp4 and mkv (a DubMix).
    dub_mix: Mapped[str] = mapped_column(String(16), default="replace", server_default="replace")
    duck_db: Mapped[float] = mapped_column(Float, default=-15.0, server_default="-15")
    output_prefix: Mapped[str] = mapped_column(Text)
    estimate_only: Mapped[bool] = mapped_column(Boolean, default=False)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    budget_max_input_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    budget_max_cost: Mapped[Decimal | None] = mapped_column(default=None)
    callback_url: Mapped[str | None] = mapped_column(Text, default=None)
    # Its order among its own tenant's work (a Priority).
    priority: Mapped[str] = mapped_column(
        String(8), default=Priority.NORMAL, server_default="normal"
    )

    # A JobStatus and a JobStage (ltb/states.py); plain strings in the database.
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    stage: Mapped[str | None] = mapped_column(String(16), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)

    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    timeline_s: Mapped[float | None] = mapped_column(Float, default=None)
    est_input_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    est_output_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    est_cost: Mapped[Decimal | None] = mapped_column(default=None)
    currency: Mapped[str | None] = mapped_column(String(8), default=None)
    price_table: Mapped[str | None] = mapped_column(String(64), default=None)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    # Who answered its requests: "dashscope" or "emulator" (if any request went to the
    # emulator); None until a request is answered.
    provider: Mapped[str | None] = mapped_column(String(16), default=None)
    # "file" or "realtime" (ltb.states.Engine): which model and protocol run the job.
    engine: Mapped[str] = mapped_column(String(16), default="file", server_default="file")
    # How many times the plan and the finalize started: both are capped, so a step that
    # dies or keeps meeting transient failures cannot keep a job alive forever.
    plan_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    finalize_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The job's last movement (a stage entered, a chunk counted, a plan recorded); the
    # reaper's own touches of updated_at are not progress.
    progress_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    # The last sign of life of the job's running plan or finalize.
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the job's work objects (chunk payloads and dub audio) were removed.
    work_removed_at: Mapped[datetime | None] = mapped_column(default=None)
    # Retention (ltb/retention.py): the job's own keep period, at most its tenant's;
    # deleted_at when its owner asked for deletion; purge_started_at when the deletion of
    # what the service wrote for it began (the mark), outputs_expired_at when it ended.
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    purge_started_at: Mapped[datetime | None] = mapped_column(default=None)
    outputs_expired_at: Mapped[datetime | None] = mapped_column(default=None)
    # The output revision its outputs are read from: 0 as finalized, N after N revisions
    # (cue edits, redone chunks) were published (see JobRevision).
    output_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("job_id", "idx", name="uq_chunks_job_idx"),
        Index("ix_chunks_status_lease", "status", "lease_until"),
        Index(
            "ix_chunks_dispatch",
            "tenant_id",
            "admitted_at",
            postgresql_where=text("status IN ('pending', 'running')"),
            sqlite_where=text("status IN ('pending', 'running')"),
        ),
        # Metrics read the recently finished chunks; done chunks have no lease to index.
        Index(
            "ix_chunks_done_finished",
            "finished_at",
            postgresql_where=text("status = 'done'"),
            sqlite_where=text("status = 'done'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    parent_idx: Mapped[int | None] = mapped_column(Integer, default=None)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    speech: Mapped[list[Any]] = mapped_column(default=list)  # [[start_s, end_s], ...]
    video: Mapped[dict[str, Any] | None] = mapped_column(JsonType, default=None)
    cut_through_speech: Mapped[bool] = mapped_column(Boolean, default=False)

    status: Mapped[str] = mapped_column(String(16), default=ChunkStatus.PENDING)  # a ChunkStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    # When the dispatcher sent its task: pending and admitted, or running, is in flight.
    admitted_at: Mapped[datetime | None] = mapped_column(default=None)

    est_input_audio: Mapped[int] = mapped_column(Integer, default=0)
    est_input_video: Mapped[int] = mapped_column(Integer, default=0)
    est_output_text: Mapped[int] = mapped_column(Integer, default=0)
    est_output_audio: Mapped[int] = mapped_column(Integer, default=0)

    result_text: Mapped[str | None] = mapped_column(Text, default=None)
    # Chunks done before the dub moved into chunk_audio point at their object here.
    result_audio_uri: Mapped[str | None] = mapped_column(Text, default=None)
    finish_reason: Mapped[str | None] = mapped_column(String(16), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    # When the current claim started and when the chunk finished: its duration, for metrics.
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChunkAudio(Base):
    """A done chunk's dub: PCM16 mono 24 kHz, stored with the chunk in the transaction
    that closes it, so no upload stands between a paid reply and the chunk being done."""

    __tablename__ = "chunk_audio"

    chunk_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True
    )
    pcm: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageRecord(Base):
    """One row per provider request, failed and retried ones included."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_job", "job_id", "chunk_idx"),
        Index("ix_usage_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    chunk_idx: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    model: Mapped[str] = mapped_column(String(64))
    input_audio: Mapped[int] = mapped_column(Integer, default=0)
    input_video: Mapped[int] = mapped_column(Integer, default=0)
    input_text: Mapped[int] = mapped_column(Integer, default=0)
    output_text: Mapped[int] = mapped_column(Integer, default=0)
    output_audio: Mapped[int] = mapped_column(Integer, default=0)
    input_image: Mapped[int] = mapped_column(Integer, default=0)
    # Which engine made the request: "file" (one request per chunk) or "realtime" (a
    # session, and one record per response).
    engine: Mapped[str] = mapped_column(String(16), default="file")
    # True when the figures are the service's estimate (no usage chunk arrived, or the
    # record was never completed), False when the provider reported them.
    estimated: Mapped[bool] = mapped_column(Boolean, default=True)
    outcome: Mapped[str] = mapped_column(
        String(32), default=UsageOutcome.PENDING
    )  # a UsageOutcome or an error code
    price_table: Mapped[str | None] = mapped_column(String(64), default=None)
    cost: Mapped[Decimal | None] = mapped_column(default=None)
    currency: Mapped[str | None] = mapped_column(String(8), default=None)
    # Seconds the call waited for the account-wide rate limiter, and the call's own length.
    limiter_wait_s: Mapped[float] = mapped_column(Float, default=0.0)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    # Why the request was made: a UsagePurpose (`translate`, or `redo` on request).
    purpose: Mapped[str] = mapped_column(
        String(16), default="translate", server_default="translate"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class UsageDaily(Base):
    """Usage records summed per day and reporting dimension, kept in step with
    usage_records by database triggers (Postgres and SQLite), so a report reads hundreds
    of rows, not millions. Never written by the application."""

    __tablename__ = "usage_daily_rollup"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    target_lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    source_lang: Mapped[str] = mapped_column(String(8), primary_key=True)  # "auto" when detected
    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # "" for none
    # The usage records' purpose: `translate`, or `redo` for chunks redone on request.
    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)
    # The labels as a key of bounded size (SHA-256 of their JSONB text on Postgres): a key
    # holding the labels themselves broke on labels larger than a btree entry.
    labels_key: Mapped[str] = mapped_column(Text, primary_key=True)
    labels: Mapped[dict[str, Any]] = mapped_column()
    currency: Mapped[str] = mapped_column(String(8), primary_key=True)
    price_table: Mapped[str] = mapped_column(String(64), primary_key=True)
    input_audio: Mapped[int] = mapped_column(BigInteger, default=0)
    input_video: Mapped[int] = mapped_column(BigInteger, default=0)
    input_text: Mapped[int] = mapped_column(BigInteger, default=0)
    output_text: Mapped[int] = mapped_column(BigInteger, default=0)
    output_audio: Mapped[int] = mapped_column(BigInteger, default=0)
    input_image: Mapped[int] = mapped_column(BigInteger, default=0)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    rate_limited: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    limiter_wait_s: Mapped[float] = mapped_column(Float, default=0.0)
    request_s: Mapped[float] = mapped_column(Float, default=0.0)


class WebhookEvent(Base):
    """The webhook outbox: one row per event, delivered by workers until acknowledged."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_due", "status", "next_attempt_at"),
        Index("ix_webhook_events_subject", "subject_id", "event"),
    )

    # The event id receivers de-duplicate on.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID] = mapped_column()
    url: Mapped[str] = mapped_column(Text)
    # pending | delivered | failed (gave up after the retry window)
    status: Mapped[str] = mapped_column(String(16), default=WebhookStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class SourceAnalysisCache(Base):
    """probe + speech map of a source, by content hash: done once, reused by every target."""

    __tablename__ = "source_analyses"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    analysis: Mapped[dict[str, Any]] = mapped_column()
    # How many times the source was probed and mapped: 1 unless two plans raced.
    runs: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceObject(Base):
    """What a stored object's bytes hash to, so a source seen before need not be fetched
    again just to learn that its analysis is cached."""

    __tablename__ = "source_objects"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    uri: Mapped[str] = mapped_column(Text, primary_key=True)
    etag: Mapped[str] = mapped_column(String(128), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRevision(Base):
    """A later set of a job's outputs: cues edited, or one chunk redone. Revision 0 is
    what finalize wrote and has no row; revision N's objects live under `rev-N/`."""

    __tablename__ = "job_revisions"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(16))  # a RevisionReason
    status: Mapped[str] = mapped_column(String(16))  # a RevisionStatus
    # The chunk a `redo` revision translates again, and the voice it asked for.
    chunk_idx: Mapped[int | None] = mapped_column(Integer, default=None)
    voice: Mapped[str | None] = mapped_column(String(32), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    # Claims by a worker: a claim younger than the task time limit belongs to a live task
    # (Celery kills a task past it), so a second delivery leaves it alone.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class JobCue(Base):
    """One subtitle cue of one output revision, in timeline order (`idx` from 1)."""

    __tablename__ = "job_cues"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    # The cue's lines joined with "\n".
    text: Mapped[str] = mapped_column(Text)
    # The words spoken, where known; the provider returns only the translation today.
    source_text: Mapped[str | None] = mapped_column(Text, default=None)
