"""What the realtime engine will cost and how long it will take, before anything is spent.

Input is exact up to the provider's rounding (audio streamed plus frames sent); output
uses the file engine's estimates (text per second of speech, the dub's length), plus the
source transcript, which is billed as output text.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

from ltb import tokens
from ltb.pricing import PriceTable
from ltb.settings import Settings
from ltb.states import Engine
from ltb.usage import TokenCounts
from pipeline.analysis import SourceAnalysis
from pipeline.estimate import TranslationRequest
from pipeline.plan import TEXT_TOKEN_FACTOR
from pipeline.realtime.frames import frame_size
from pipeline.realtime.segments import Segment, SegmentLimits, plan_segments

# The provider quotes about 3 s from the end of an utterance to its translation.
ANSWER_DELAY_S = 3.0


def segment_limits(
    settings: Settings, analysis: SourceAnalysis, *, visual_context: bool
) -> SegmentLimits:
    video = analysis.info.video
    frame = None
    if visual_context and video is not None:
        frame = frame_size(
            video.width, video.height, max_height_px=settings.realtime_frame_height_px
        )
    return SegmentLimits(
        max_segment_s=settings.realtime_segment_s,
        frame_fps=settings.realtime_frame_fps if frame else 0.0,
        frame=frame,
        input_margin=settings.input_safety_margin,
    )


def expected_output(
    settings: Settings, segment: Segment, request: TranslationRequest
) -> TokenCounts:
    speech_s = sum(span.duration_s for span in segment.speech)
    per_s = settings.text_tokens_per_speech_s
    translation = math.ceil(speech_s * per_s * TEXT_TOKEN_FACTOR.get(request.target_lang, 1.0))
    transcript = math.ceil(
        speech_s * per_s * TEXT_TOKEN_FACTOR.get(request.source_lang or "en", 1.0)
    )
    dub = (
        tokens.audio_tokens(speech_s * settings.dub_length_factor)
        if request.voice and any(k == "wav" for k in request.outputs)
        else 0
    )
    return TokenCounts(output_text=translation + transcript, output_audio=dub)


def expected_input(segment: Segment) -> TokenCounts:
    audio = tokens.audio_tokens(segment.span.duration_s)
    return TokenCounts(input_audio=audio, input_image=segment.input_tokens - audio)


@dataclass(frozen=True, slots=True)
class RealtimeEstimate:
    segments: list[Segment]
    input: TokenCounts
    output: TokenCounts
    wall_s: float
    image_tokens: int

    @property
    def total(self) -> TokenCounts:
        return self.input + self.output


def estimate_realtime(
    settings: Settings,
    analysis: SourceAnalysis,
    request: TranslationRequest,
    *,
    max_sessions: int | None = None,
    pace: float | None = None,
) -> RealtimeEstimate:
    limits = segment_limits(settings, analysis, visual_context=request.visual_context)
    sessions = max_sessions or settings.realtime_max_sessions
    segments = plan_segments(
        analysis.speech.regions, duration_s=analysis.duration_s, limits=limits, sessions=sessions
    )
    inputs = TokenCounts.sum(expected_input(s) for s in segments)
    outputs = TokenCounts.sum(expected_output(settings, s, request) for s in segments)
    stream_s = wall_time_s(
        [s.span.duration_s for s in segments],
        sessions=sessions,
        pace=pace or settings.realtime_pace,
    )
    quota_s = (inputs + outputs).total / (settings.quota_tpm * settings.quota_headroom) * 60
    return RealtimeEstimate(
        segments=segments,
        input=inputs,
        output=outputs,
        wall_s=max(stream_s, quota_s),
        image_tokens=inputs.input_image,
    )


def wall_time_s(durations_s: list[float], *, sessions: int, pace: float) -> float:
    """When the last session ends, sessions taken in order by the first free slot; each
    lasts its audio at `pace` plus the answer's delay."""
    if not durations_s:
        return 0.0
    free = [0.0] * max(1, sessions)
    heapq.heapify(free)
    end = 0.0
    for duration_s in durations_s:
        start = heapq.heappop(free)
        finish = start + duration_s / pace + ANSWER_DELAY_S
        end = max(end, finish)
        heapq.heappush(free, finish)
    return end


def realtime_report(estimate: RealtimeEstimate, table: PriceTable, model: str) -> dict[str, Any]:
    total = estimate.total
    return {
        "engine": Engine.REALTIME,
        "model": model,
        "sessions": len(estimate.segments),
        "segments": [
            {
                "index": s.index,
                "start_s": round(s.span.start_s, 3),
                "end_s": round(s.span.end_s, 3),
                "input_tokens": s.input_tokens,
                "frames": s.frames,
                "cut_through_speech": s.cut_through_speech,
            }
            for s in estimate.segments
        ],
        "input_tokens": estimate.input.input_tokens,
        "image_tokens": estimate.image_tokens,
        "est_output_tokens": estimate.output.output_tokens,
        "total_tokens": total.total,
        "by_kind": total.as_dict(),
        "cost": table.cost(model, total).as_dict(),
        "wall_s": round(estimate.wall_s, 1),
    }
