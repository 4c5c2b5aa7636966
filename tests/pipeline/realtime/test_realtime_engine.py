"""The engine's sessions against `ltb emulator`: one failing for good cancels the rest,
whose sockets close and whose records say so; nothing is left pending."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ltb.errors import ProviderError
from ltb.timeline import Span
from ltb.usage import TokenCounts
from pipeline.ratelimit import LocalRateLimiter
from pipeline.realtime.client import RealtimeClient, SessionConfig, SessionInput
from pipeline.realtime.engine import (
    SegmentFailed,
    SegmentResult,
    SegmentWork,
    run_segment,
    run_segments,
)
from pipeline.realtime.segments import Segment
from pipeline.translate import RetryPolicy
from pipeline.usage_records import JsonlUsageLog

from support.emulator import Emulator
from support.media import speech_timeline

LAYOUT = [1.0, "en_0.flac", 1.0, "en_1.flac", 1.0]


def work(index: int) -> SegmentWork:
    timeline = speech_timeline(LAYOUT)
    pcm = timeline.samples.astype("<i2").tobytes()
    segment = Segment(
        index=index,
        span=Span(0.0, timeline.duration_s),
        speech=tuple(Span(a, b) for a, b in timeline.speech),
        input_tokens=round(12.5 * timeline.duration_s) + 1,
        frames=0,
    )
    return SegmentWork(
        segment=segment,
        media=SessionInput(pcm16=pcm),
        config=SessionConfig(target_lang="de", source_lang="en"),
        expected_output=TokenCounts(output_text=50),
    )


def test_a_segment_failing_for_good_cancels_the_open_sessions_and_books_them(
    provider: Emulator, tmp_path: Path
) -> None:
    url = provider.root_url.replace("http://", "ws://") + "/api-ws/v1/realtime"
    # Real time: the sessions are still streaming when the failure comes.
    client = RealtimeClient(
        url=url, api_key=provider.api_key, model="qwen3-livetranslate-flash-realtime", pace=1.0
    )
    log = JsonlUsageLog(tmp_path / "usage.jsonl", model=client.model, engine="realtime")
    limiter = LocalRateLimiter(rpm=100, tpm=100_000)
    policy = RetryPolicy(max_attempts=1)

    async def run(item: SegmentWork) -> SegmentResult:
        if item.segment.index == 2:
            await asyncio.sleep(1.0)  # the others have opened their sessions by then
            raise SegmentFailed(
                item.segment, ProviderError("refused", code="provider_rejected"), ()
            )
        return await run_segment(item, client=client, limiter=limiter, recorder=log, policy=policy)

    with pytest.raises(SegmentFailed):
        asyncio.run(run_segments([work(0), work(1), work(2)], max_sessions=3, run=run))
    records = log.records()
    sessions = [r for r in records if r.request_id is None or r.outcome == "cancelled"]
    assert {r.chunk_index for r in records} == {0, 1}
    assert all(r.outcome != "pending" for r in records)
    assert [r.outcome for r in sessions] == ["cancelled", "cancelled"]
    assert all(r.estimated and r.usage.input_audio > 0 for r in sessions)
    assert all(r.engine == "realtime" for r in records)
