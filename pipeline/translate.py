"""translate: one chunk through the provider, with every attempt rate-limited, recorded
and, when the provider says "later", retried. Retries live here and nowhere else.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ltb import tokens
from ltb.errors import LtbError, ProviderError
from ltb.outputs import spoken
from ltb.states import UsageOutcome
from ltb.usage import TokenCounts
from pipeline.estimate import TranslationRequest
from pipeline.extract import ChunkPayload
from pipeline.plan import PlannedChunk
from pipeline.provider import ProviderClient, StreamedReply, TranslationCall
from pipeline.ratelimit import RateLimiter, Reservation
from pipeline.usage_records import UsageRecorder

PCM_BYTES_PER_S = 24_000 * 2


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 1.0
    max_s: float = 60.0
    # The longest Retry-After honoured: a provider asking for a day would otherwise hold a
    # chunk (and its worker) for that long.
    max_retry_after_s: float = 120.0

    def delay_s(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Exponential backoff with full jitter, never sooner than the provider asked
        (up to `max_retry_after_s`)."""
        ceiling = min(self.max_s, self.base_s * 2 ** (attempt - 1))
        asked = min(retry_after_s or 0.0, self.max_retry_after_s)
        return max(rng.uniform(0, ceiling), asked)


@dataclass(frozen=True, slots=True)
class ChunkWork:
    """One chunk's call and what it is expected to cost."""

    chunk_index: int
    call: TranslationCall
    input: TokenCounts  # measured from the payload: exact
    expected_output: TokenCounts  # from the plan: an estimate

    @property
    def expected(self) -> TokenCounts:
        return self.input + self.expected_output


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    request_id: str | None
    outcome: str
    usage: TokenCounts
    estimated: bool
    waited_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class ChunkResult:
    reply: StreamedReply
    attempts: tuple[Attempt, ...]


class ChunkFailed(LtbError):
    """A chunk that could not be translated; `attempts` says what was tried and billed."""

    def __init__(self, error: ProviderError, attempts: tuple[Attempt, ...]) -> None:
        super().__init__(error.message, code=error.code)
        self.attempts = attempts


def translate_chunk(
    work: ChunkWork,
    *,
    client: ProviderClient,
    limiter: RateLimiter,
    recorder: UsageRecorder,
    policy: RetryPolicy,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ChunkResult:
    """Sends one chunk until it succeeds, fails for good, or runs out of attempts.

    A truncated answer (finish_reason "length") is returned, not retried: the caller
    splits the chunk, because the same request would be truncated again.
    """
    rng = rng or random.Random()
    attempts: list[Attempt] = []

    def close(
        number: int, reservation: Reservation, record_id: str, started: float, **outcome: Any
    ) -> None:
        """Completes the attempt's usage record, corrects the limiter, remembers the attempt."""
        duration_s = time.monotonic() - started
        recorder.complete(
            record_id,
            **outcome,
            limiter_wait_s=reservation.waited_s,
            duration_s=duration_s,
            provider=client.provider,
        )
        limiter.settle(reservation, outcome["usage"].total)
        attempts.append(
            Attempt(
                number=number,
                request_id=outcome["request_id"],
                outcome=outcome["outcome"],
                usage=outcome["usage"],
                estimated=outcome["estimated"],
                waited_s=reservation.waited_s,
                duration_s=duration_s,
            )
        )

    for number in range(1, policy.max_attempts + 1):
        reservation = limiter.acquire(work.expected.total)
        record_id = recorder.begin(
            chunk_index=work.chunk_index, attempt=number, estimate=work.expected
        )
        started = time.monotonic()
        try:
            call = replace(work.call, client_request_id=record_id)
            reply = client.stream(
                call, on_request_id=partial(recorder.attach_request_id, record_id)
            )
        except ProviderError as error:
            usage, estimated = billed_after_failure(error, work)
            close(
                number,
                reservation,
                record_id,
                started,
                request_id=error.request_id,
                usage=usage,
                estimated=estimated,
                outcome=error.code,
            )
            if not error.retryable or number == policy.max_attempts:
                raise ChunkFailed(error, tuple(attempts)) from error
            sleep(policy.delay_s(number, error.retry_after_s, rng))
            continue
        close(
            number,
            reservation,
            record_id,
            started,
            request_id=reply.request_id,
            usage=reply.usage or work.expected,
            estimated=False,
            outcome=UsageOutcome.TRUNCATED if reply.truncated else UsageOutcome.OK,
        )
        return ChunkResult(reply=reply, attempts=tuple(attempts))
    raise AssertionError("unreachable: the loop returns or raises")


def chunk_work(
    chunk: PlannedChunk, payload: ChunkPayload, request: TranslationRequest, *, media: str
) -> ChunkWork:
    """The provider call for one chunk's payload, and what it should cost."""
    wants_dub = spoken(request.outputs)
    call = TranslationCall(
        media=media,
        kind=payload.kind,
        target_lang=request.target_lang,
        source_lang=request.source_lang,
        voice=request.voice if wants_dub else None,
    )
    return ChunkWork(
        chunk_index=chunk.index,
        call=call,
        input=TokenCounts(input_audio=payload.audio_tokens, input_video=payload.video_tokens),
        expected_output=TokenCounts(
            output_text=chunk.cost.output_text_tokens, output_audio=chunk.cost.output_audio_tokens
        ),
    )


def billed_after_failure(error: ProviderError, work: ChunkWork) -> tuple[TokenCounts, bool]:
    """What a failed attempt probably cost, and whether that figure is an estimate.

    An HTTP error answer (429, 500, 400...) is not billed. A stream that started and then
    broke is assumed billed for its whole input and for the output already received,
    counted generously, so cost reports err high, never low.
    """
    if error.status is not None:
        return TokenCounts(), False
    partial = error.partial if isinstance(error.partial, StreamedReply) else None
    if partial is None or partial.request_id is None:
        # The request may have reached the provider before the connection failed.
        return work.input, True
    output_audio = tokens.audio_tokens(len(partial.pcm) / PCM_BYTES_PER_S) if partial.pcm else 0
    return (
        work.input
        + TokenCounts(output_text=generous_text_tokens(partial.text), output_audio=output_audio),
        True,
    )


def generous_text_tokens(text: str) -> int:
    """An upper estimate of the tokens in `text`: one per ideographic, kana, Hangul or Thai
    character and one per two characters of anything else (tokenisers do better)."""
    dense = sum(1 for char in text if _is_dense(char))
    return dense + math.ceil((len(text) - dense) / 2)


def _is_dense(char: str) -> bool:
    code = ord(char)
    return (
        0x0E00 <= code <= 0x0E7F  # Thai
        or 0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK ideographs
        or 0xAC00 <= code <= 0xD7AF  # Hangul
        or 0xF900 <= code <= 0xFAFF
    )
