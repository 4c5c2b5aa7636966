"""The realtime engine's segments, run as parallel asyncio sessions: each through the
account-wide limiter, each attempt booked before it starts, each response booked the
moment it ends, and a segment broken mid-way redone whole.

Books per attempt (docs/provider.md "Realtime client"):
- a *session* record, begun at the segment's estimate before the socket opens; when the
  session ends it is completed with what no response reported: nothing after a clean
  finish, the input streamed since the last response (and the partial answer) after a
  break, counted generously;
- one *response* record per `response.done`, with the usage the server reported.
The limiter counts the session as one request when it opens, at the segment's estimate;
each response's tokens then replace the estimate as they arrive.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ltb import tokens
from ltb.errors import LtbError, ProviderError
from ltb.states import UsageOutcome
from ltb.timeline import Span
from ltb.usage import TokenCounts
from pipeline.ratelimit import RateLimiter, Reservation
from pipeline.realtime.client import (
    RealtimeClient,
    SessionConfig,
    SessionInput,
    SessionResult,
    UtteranceReply,
)
from pipeline.realtime.segments import Segment
from pipeline.realtime.timing import place_answers
from pipeline.translate import RetryPolicy, generous_text_tokens
from pipeline.usage_records import UsageRecorder


@dataclass(frozen=True, slots=True)
class SegmentWork:
    segment: Segment
    media: SessionInput
    config: SessionConfig
    expected_output: TokenCounts

    @property
    def expected_input(self) -> TokenCounts:
        audio = tokens.audio_tokens(self.media.duration_s)
        return TokenCounts(input_audio=audio, input_image=self.segment.input_tokens - audio)

    @property
    def expected(self) -> TokenCounts:
        return self.expected_input + self.expected_output


@dataclass(frozen=True, slots=True)
class SessionAttempt:
    number: int
    outcome: str  # "ok" or an error code
    session_id: str | None
    responses: int
    usage: TokenCounts  # every record of the attempt, responses and the session's remainder
    estimated: bool
    waited_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class PlacedUtterance:
    """One answer, placed on the source's timeline."""

    segment_index: int
    speech: tuple[Span, ...]
    reply: UtteranceReply

    @property
    def span(self) -> Span:
        return Span(self.speech[0].start_s, self.speech[-1].end_s)


@dataclass(frozen=True, slots=True)
class SegmentResult:
    segment: Segment
    utterances: tuple[PlacedUtterance, ...]
    attempts: tuple[SessionAttempt, ...]


class SegmentFailed(LtbError):
    def __init__(
        self, segment: Segment, error: ProviderError, attempts: tuple[SessionAttempt, ...]
    ):
        super().__init__(
            f"segment {segment.index} ({segment.span.start_s:.1f}-{segment.span.end_s:.1f} s): "
            f"{error.message}",
            code=error.code,
        )
        self.segment = segment
        self.attempts = attempts


Sleep = Callable[[float], Awaitable[None]]


async def run_segment(
    work: SegmentWork,
    *,
    client: RealtimeClient,
    limiter: RateLimiter,
    recorder: UsageRecorder,
    policy: RetryPolicy,
    rng: random.Random | None = None,
    sleep: Sleep = asyncio.sleep,
) -> SegmentResult:
    """Streams one segment until a session finishes cleanly, failing for good, or running
    out of attempts; a session that breaks is redone from the segment's start."""
    rng = rng or random.Random()
    attempts: list[SessionAttempt] = []
    segment = work.segment
    for number in range(1, policy.max_attempts + 1):
        reservation = await asyncio.to_thread(limiter.acquire, work.expected.total)
        books = _SessionBooks(work, number, client, limiter, recorder, reservation)
        try:
            result = await client.run_session(
                work.config, work.media, on_response=books.book, client_request_id=books.record_id
            )
        except ProviderError as error:
            partial = error.partial if isinstance(error.partial, SessionResult) else None
            remainder, estimated = unreported_after_failure(error, work, partial)
            attempts.append(books.close(error.code, partial, remainder, estimated=estimated))
            if not error.retryable or number == policy.max_attempts:
                raise SegmentFailed(segment, error, tuple(attempts)) from error
            await sleep(policy.delay_s(number, error.retry_after_s, rng))
            continue
        except asyncio.CancelledError:
            # Another segment failed, or the job was cancelled: the socket is closed; what
            # the server may have billed is kept at the generous estimate.
            remainder = unreported(work, books.reported)
            books.close("cancelled", None, remainder, estimated=True)
            raise
        attempts.append(books.close(UsageOutcome.OK, result, TokenCounts(), estimated=False))
        return SegmentResult(segment, _placed(segment, result), tuple(attempts))
    raise AssertionError("unreachable: the loop returns or raises")


class _SessionBooks:
    """One attempt's records: the session's, begun before the socket opens, and one per
    response, written the moment it ends."""

    def __init__(
        self,
        work: SegmentWork,
        number: int,
        client: RealtimeClient,
        limiter: RateLimiter,
        recorder: UsageRecorder,
        reservation: Reservation,
    ) -> None:
        self.work, self.number, self.client = work, number, client
        self.limiter, self.recorder, self.reservation = limiter, recorder, reservation
        self.started = time.monotonic()
        self.billed: list[TokenCounts] = []
        self.record_id = recorder.begin(
            chunk_index=work.segment.index, attempt=number, estimate=work.expected
        )

    @property
    def reported(self) -> TokenCounts:
        return TokenCounts.sum(self.billed)

    def book(self, reply: UtteranceReply) -> None:
        record = self.recorder.begin(
            chunk_index=self.work.segment.index, attempt=self.number, estimate=reply.usage
        )
        self.recorder.complete(
            record,
            request_id=reply.response_id,
            usage=reply.usage,
            estimated=False,
            outcome=UsageOutcome.OK if reply.completed else UsageOutcome.TRUNCATED,
            provider=self.client.provider,
        )
        self.billed.append(reply.usage)
        self.limiter.settle(self.reservation, self.reported.total)

    def close(
        self,
        outcome: str,
        result: SessionResult | None,
        remainder: TokenCounts,
        *,
        estimated: bool,
    ) -> SessionAttempt:
        duration_s = time.monotonic() - self.started
        session_id = result.session_id if result else None
        self.recorder.complete(
            self.record_id,
            request_id=session_id,
            usage=remainder,
            estimated=estimated,
            outcome=outcome,
            limiter_wait_s=self.reservation.waited_s,
            duration_s=duration_s,
            provider=self.client.provider,
        )
        self.limiter.settle(self.reservation, (self.reported + remainder).total)
        return SessionAttempt(
            number=self.number,
            outcome=outcome,
            session_id=session_id,
            responses=len(self.billed),
            usage=self.reported + remainder,
            estimated=estimated,
            waited_s=self.reservation.waited_s,
            duration_s=duration_s,
        )


def unreported_after_failure(
    error: ProviderError, work: SegmentWork, partial: SessionResult | None
) -> tuple[TokenCounts, bool]:
    """What a broken session probably cost beyond the responses it reported, and whether
    that is an estimate. A refused handshake is not billed."""
    if error.status is not None:
        return TokenCounts(), False
    if partial is None:
        return unreported(work, TokenCounts()), True
    reported = TokenCounts.sum(u.usage for u in partial.utterances)
    return unreported(work, reported, partial.in_flight_text, partial.in_flight_pcm_s), True


def unreported(
    work: SegmentWork, reported: TokenCounts, in_flight_text: str = "", in_flight_pcm_s: float = 0.0
) -> TokenCounts:
    """The server may have billed the input it had not yet reported (the segment's input
    less what the responses reported, plus a second for rounding) and the answer under
    way: counted generously, so reports err high, never low."""
    expected = work.expected_input
    return TokenCounts(
        input_audio=max(0, expected.input_audio - reported.input_audio) + tokens.audio_tokens(1.0),
        input_image=max(0, expected.input_image - reported.input_image),
        output_text=generous_text_tokens(in_flight_text) if in_flight_text else 0,
        output_audio=tokens.audio_tokens(in_flight_pcm_s + 1.0) if in_flight_pcm_s else 0,
    )


def _placed(segment: Segment, result: SessionResult) -> tuple[PlacedUtterance, ...]:
    replies = [u for u in result.utterances if u.text.strip() or u.pcm]
    weights = [float(len(u.transcript) or len(u.text) or 1) for u in replies]
    placed = place_answers(weights, segment.speech) if segment.speech else []
    return tuple(
        PlacedUtterance(segment_index=segment.index, speech=p.speech, reply=reply)
        for p, reply in zip(placed, replies, strict=True)
    )


async def run_segments(
    works: Sequence[SegmentWork],
    *,
    max_sessions: int,
    run: Callable[[SegmentWork], Awaitable[SegmentResult]],
) -> list[SegmentResult]:
    """Every segment, at most `max_sessions` at once. The first failure cancels the rest
    (a cancelled session closes its socket); the sessions already under way are booked."""
    gate = asyncio.Semaphore(max(1, max_sessions))

    async def one(work: SegmentWork) -> SegmentResult:
        async with gate:
            return await run(work)

    tasks = [asyncio.create_task(one(work)) for work in works]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
