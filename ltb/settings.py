"""All configuration, from `LTB_*` environment variables (and `DASHSCOPE_API_KEY`).

Every field is documented in `.env.example`; a test keeps the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SINGAPORE_BASE_URL = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
BEIJING_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
REALTIME_MODEL = "qwen3-livetranslate-flash-realtime"
SINGAPORE_REALTIME_URL = "wss://dashscope-intl.aliyuncs.com/api-ws/v1/realtime"
BEIJING_REALTIME_URL = "wss://dashscope.aliyuncs.com/api-ws/v1/realtime"


class Settings(BaseSettings):
    # Blank values mean "the default", so a copied .env.example changes nothing.
    model_config = SettingsConfigDict(
        env_prefix="LTB_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    # --- profile and home -------------------------------------------------------------
    profile: Literal["embedded", "production"] = "embedded"
    home: Path = Path(".ltb")

    # --- provider -----------------------------------------------------------------------
    dashscope_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DASHSCOPE_API_KEY", "LTB_DASHSCOPE_API_KEY")
    )
    provider_base_url: str = SINGAPORE_BASE_URL
    model: str = "qwen3-livetranslate-flash"
    provider_connect_timeout_s: float = 10.0
    provider_first_byte_timeout_s: float = 120.0
    provider_total_timeout_s: float = 900.0
    provider_max_attempts: int = Field(default=6, ge=1, le=20)
    provider_backoff_base_s: float = 1.0
    provider_backoff_max_s: float = 60.0
    # The longest Retry-After a worker waits before retrying, however long the provider asks.
    provider_retry_after_max_s: float = Field(default=120.0, ge=0)
    # inline: every payload as a data URI; url: always by presigned URL; auto: URL only
    # when the data URI would exceed the provider's 10,485,760-character limit.
    payload_delivery: Literal["auto", "inline", "url"] = "auto"

    # --- realtime engine (qwen3-livetranslate-flash-realtime over WebSocket) ----------------
    realtime_url: str = SINGAPORE_REALTIME_URL
    realtime_model: str = REALTIME_MODEL
    # Audio is streamed at this multiple of real time: 1.0 as a microphone would; tests and
    # benchmarks against the emulator go faster. The real provider expects about 1.0.
    realtime_pace: float = Field(default=1.0, gt=0, le=1000)
    # Still frames sent as visual context (with --visual-context on), at most 2 per second.
    realtime_frame_fps: float = Field(default=1.0, gt=0, le=2)
    # Frames are downscaled to at most this height before JPEG encoding (images cost tokens
    # by area: 480p is about 262 tokens a frame, 720p about 588).
    realtime_frame_height_px: int = Field(default=480, ge=64, le=1080)
    # The longest stretch of source one session streams; cuts fall in pauses.
    realtime_segment_s: float = Field(default=150.0, ge=5, le=3600)
    # Sessions open at the same time for one source.
    realtime_max_sessions: int = Field(default=4, ge=1, le=64)

    # --- account quota (shared by every worker) ----------------------------------------
    quota_rpm: int = Field(default=100, ge=1)
    quota_tpm: int = Field(default=100_000, ge=1)
    quota_headroom: float = Field(default=0.97, gt=0, le=1)
    # Chunks admitted to the task queue at once, fleet-wide (fair scheduling). Set it to a
    # few times the fleet's worker slots: fewer starves the workers, many more lets a big
    # tenant's chunks queue ahead of a small tenant's again.
    dispatch_window_chunks: int = Field(default=32, ge=1)

    # --- planning ---------------------------------------------------------------------------
    input_safety_margin: float = Field(default=0.05, ge=0, lt=0.5)
    output_safety_margin: float = Field(default=0.10, ge=0, lt=0.5)
    dub_length_factor: float = Field(default=1.15, ge=1.0, le=2.0)
    text_tokens_per_speech_s: float = Field(default=4.0, gt=0)
    target_chunk_s: float = Field(default=0.0, ge=0)

    # --- untrusted media caps -------------------------------------------------------------
    max_source_bytes: int = 8 * 1024**3
    max_duration_s: float = 6 * 3600.0
    max_video_pixels: int = 8192 * 8192
    decode_timeout_s: float = 1800.0

    # --- outputs ----------------------------------------------------------------------------
    max_speed: float = Field(default=1.25, ge=1.0, le=1.5)
    loudness_lufs: float = -23.0
    true_peak_dbtp: float = -1.0
    concurrency: int = Field(default=4, ge=1, le=64)

    # --- pricing ---------------------------------------------------------------------------
    price_table_file: Path | None = None

    # --- service: database, broker, limiter ---------------------------------------------
    # Empty means the embedded profile's SQLite file under `home`.
    database_url: str = ""
    # Empty means the embedded profile's broker: a folder under `home`, no server needed.
    broker_url: str = ""
    # The account-wide rate limiter's Redis; empty means the broker's, when that is Redis.
    redis_url: str = ""
    # A Celery visibility timeout longer than any task's hard limit (docs/architecture.md "Reliability rules").
    task_soft_time_limit_s: int = 1500
    task_time_limit_s: int = 1800
    broker_visibility_timeout_s: int = 3600
    # How long a chunk's claim lasts without renewal before the reaper hands it to another
    # worker. The holder renews it every third of this while it works, so it can be short:
    # a killed worker's chunk is taken over within this plus the reaper's interval.
    chunk_lease_s: int = Field(default=45, ge=3)
    reaper_interval_s: float = Field(default=15.0, gt=0)
    # How often the beat looks for jobs past their retention (and deletions cut short).
    retention_interval_s: float = Field(default=300.0, gt=0)
    # Queued work that has not moved for this long, with the queue empty, lost its message.
    reaper_stale_s: float = 60.0
    # A job that has made no progress for this long while work of its own was runnable,
    # and the fleet was not busy with other work, is failed as `stuck`.
    stuck_after_s: float = Field(default=3600.0, gt=0)
    # How many times a job's plan, and its finalize, may start before the job fails.
    plan_max_attempts: int = Field(default=5, ge=1, le=100)
    finalize_max_attempts: int = Field(default=5, ge=1, le=100)
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    # On SIGTERM, chunks in flight may finish (their streams are paid for) for this long;
    # then their leases are handed back so another worker takes them over at once.
    warm_shutdown_s: float = Field(default=60.0, ge=0)
    # Transient faults inside a task (storage, a dropped database connection) are retried
    # in the task this many times, with exponential backoff and full jitter.
    task_retry_attempts: int = Field(default=6, ge=1, le=20)
    task_retry_base_s: float = Field(default=1.0, gt=0)
    task_retry_max_s: float = Field(default=30.0, gt=0)

    # --- service: object storage ----------------------------------------------------------
    # Empty means AWS; set it for MinIO, Alibaba OSS or a local S3 server.
    s3_endpoint_url: str = ""
    # The endpoint presigned URLs name, when clients reach storage by another name.
    s3_public_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    output_bucket: str = "ltb-outputs"
    # Where the service keeps chunk payloads and results: s3://bucket/prefix/. Empty means
    # s3://<output_bucket>/_work/, so setting the output bucket alone moves both.
    work_prefix: str = ""
    presign_expiry_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Embedded profile: s3://bucket/key is stored as <storage_root>/bucket/key.
    storage_root: Path = Path(".ltb/objects")
    scratch_dir: Path = Path(".ltb/scratch")
    # Sources cached on a worker's disk, least recently used evicted past this size.
    scratch_cache_max_bytes: int = 20 * 1024**3

    # --- service: API -----------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Larger request bodies are refused with 413 as they arrive, whatever Content-Length says.
    api_max_body_bytes: int = Field(default=10 * 1024**2, ge=1024)
    # Each tenant's sustained API request rate and burst (a token bucket), shared by every
    # API process through LTB_REDIS_URL (or a Redis broker), else per process; 0 turns it off.
    api_rate_per_tenant_rps: float = Field(default=200.0, ge=0)
    api_rate_burst: int = Field(default=400, ge=1)
    # GET /metrics is served on its own listener, never on the public API: loopback by
    # default; in Compose and Kubernetes, the internal network Prometheus scrapes from.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=1, le=65535)
    # How long each API process trusts an API key it has checked: a revoked key is refused
    # everywhere within this many seconds. 0 checks the database on every request.
    auth_cache_s: float = Field(default=5.0, ge=0, le=300)

    # --- webhooks -----------------------------------------------------------------------------
    # Callback URLs on private, loopback or link-local addresses are refused unless allowed.
    webhook_allow_private: bool = False
    # The whole delivery (connect, TLS, send, answer), not each step of it.
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # How long a webhook is retried (with backoff) before it is given up.
    webhook_retry_window_s: float = Field(default=24 * 3600.0, gt=0)
    # The first retry's delay; each later one doubles, up to an hour.
    webhook_backoff_base_s: float = Field(default=10.0, gt=0)
    # Deliveries `ltb webhooks` makes at once (processes); each waits at most the timeout.
    webhook_concurrency: int = Field(default=4, ge=1)
    # The most jobs one batch may create (sources x targets).
    max_batch_jobs: int = Field(default=50_000, ge=1)

    # --- client commands (ltb submit, status, usage) --------------------------------------
    api_url: str = "http://127.0.0.1:8000"
    api_key: SecretStr | None = None
    # Where `ltb submit` uploads local files before submitting them: s3://bucket/prefix/
    upload_prefix: str = ""

    # --- emulator ---------------------------------------------------------------------------
    emulator_api_key: str | None = None

    @model_validator(mode="after")
    def _derive_work_prefix(self) -> Settings:
        if not self.work_prefix:
            self.work_prefix = f"s3://{self.output_bucket}/_work/"
        return self

    @property
    def provider_key(self) -> str | None:
        key = self.dashscope_api_key
        return key.get_secret_value() if key else None

    @property
    def database(self) -> str:
        """The SQLAlchemy URL: plain postgresql:// URLs are read with psycopg 3."""
        url = self.database_url or f"sqlite:///{self.home / 'ltb.sqlite3'}"
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain) :]
        return url

    @property
    def broker(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def limiter_redis_url(self) -> str | None:
        """Redis for the shared limiter: LTB_REDIS_URL, else the broker when it is Redis."""
        if self.redis_url:
            return self.redis_url
        if self.broker.startswith(("redis://", "rediss://")):
            return self.broker
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
