"""How one emulator instance behaves: its key, its quota, its pacing and its faults.

Defaults are the real provider's figures (docs/provider.md, "File engine"), so
an emulator started with no options is as strict as the account the service will run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ltb.tokens import MAX_OUTPUT_TOKENS

# The model names the provider serves for this product (seed 000, "モデルの詳細").
MODELS: tuple[str, ...] = ("qwen3-livetranslate-flash", "qwen3-livetranslate-flash-2025-12-01")

# One data URI may hold at most this many characters (docs/provider.md, "Inline media").
MAX_DATA_URI_CHARS = 10_485_760

# By default the emulator fetches media URLs only from this machine: it is a test harness,
# and must never become a way to reach other hosts (docs/architecture.md, "Security rules").
# "loopback" stands for localhost and every loopback address; "*" for any host.
LOOPBACK = "loopback"


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    # None or "": any non-empty bearer key is accepted (a fresh install has no key).
    api_key: str | None = None

    # Per-key quota, sliding 60-second windows.
    rpm: int = 100
    tpm: int = 100_000

    # Pacing: a delay before the response starts, then a stream that lasts
    # `realtime_factor` x the input's duration (0 = as fast as possible).
    first_byte_ms: int = 0
    realtime_factor: float = 0.0
    # Realtime sessions: how long after an utterance ends its response starts, before
    # scaling by `realtime_factor` (the provider quotes about 3 s).
    realtime_latency_s: float = 3.0

    # Seeded faults, as rates in [0, 1] drawn once per request in arrival order.
    fail_429: float = 0.0
    fail_500: float = 0.0
    cut: float = 0.0
    moderation: float = 0.0
    seed: int = 0
    # The Retry-After (seconds) an injected 429 asks for.
    retry_after_s: int = 1
    # How long a `stall` fault holds the stream silent before it carries on.
    stall_s: float = 60.0

    # Output: the cap below the model's own 4,096, and the dub's length per second of speech.
    max_output_tokens: int = MAX_OUTPUT_TOKENS
    dub_factor: float = 1.1
    # "tone" is a synthetic voice and the default; "espeak" uses espeak-ng when installed.
    voice_engine: Literal["tone", "espeak"] = "tone"

    # Media by URL: hosts the emulator may fetch from, and caps.
    url_allow_hosts: tuple[str, ...] = (LOOPBACK,)
    fetch_timeout_s: float = 30.0
    max_fetch_bytes: int = 1024**3

    def __post_init__(self) -> None:
        rates = (self.fail_429, self.fail_500, self.cut, self.moderation)
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must each lie in [0, 1] and sum to at most 1")
        if self.rpm < 1 or self.tpm < 1:
            raise ValueError("rpm and tpm must be at least 1")
        if not 1 <= self.max_output_tokens <= MAX_OUTPUT_TOKENS:
            raise ValueError(f"max_output_tokens must lie in [1, {MAX_OUTPUT_TOKENS}]")
        if self.retry_after_s < 0:
            raise ValueError("retry_after_s must not be negative")
        if (
            self.dub_factor <= 0
            or self.realtime_factor < 0
            or self.first_byte_ms < 0
            or self.realtime_latency_s < 0
        ):
            raise ValueError("dub_factor must be positive; pacing values must not be negative")
