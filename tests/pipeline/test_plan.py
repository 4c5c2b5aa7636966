"""plan: for any speech map and options, every limit holds and chunks tile the timeline."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltb import tokens
from ltb.errors import MediaError
from ltb.languages import AUDIO_TARGETS, LANGUAGES
from ltb.media.probe import VideoProps
from ltb.media.speech_map import QuietPoint, SpeechMap
from ltb.timeline import Span
from pipeline.payload import DATA_URI_LIMIT_CHARS, audio_payload_chars, video_payload
from pipeline.plan import Limits, PlanOptions, Source, plan_chunks, split_chunk


@st.composite
def speech_maps(draw: st.DrawFn) -> SpeechMap:
    regions: list[Span] = []
    t = draw(st.floats(0, 120))
    for _ in range(draw(st.integers(0, 60))):
        length = draw(st.one_of(st.floats(0.1, 12), st.floats(12, 900)))
        regions.append(Span(t, t + length))
        t += length + draw(st.one_of(st.floats(0.05, 2), st.floats(2, 90)))
    duration = max(t, 1.0) + draw(st.floats(0, 60))
    quiet = tuple(QuietPoint(s + 0.5, -40.0 - (s % 7)) for s in range(int(duration)))
    return SpeechMap(regions=tuple(regions), duration_s=duration, quiet_points=quiet)


@st.composite
def videos(draw: st.DrawFn, duration_s: float) -> VideoProps | None:
    if not draw(st.booleans()):
        return None
    width = draw(st.integers(16, 4096))
    height = draw(st.integers(max(16, math.ceil(width / 200)), min(4096, width * 200)))
    fps = draw(st.sampled_from([23.976, 25.0, 29.97, 30.0, 59.94, 60.0, 12.0]))
    return VideoProps(
        width=width, height=height, fps=fps, frames=max(4, round(duration_s * fps)), codec="h264"
    )


@st.composite
def plan_cases(draw: st.DrawFn) -> tuple[Source, PlanOptions]:
    speech = draw(speech_maps())
    target = draw(st.sampled_from(sorted(LANGUAGES)))
    outputs = ["text", "srt"] + (["wav"] if target in AUDIO_TARGETS and draw(st.booleans()) else [])
    options = PlanOptions(
        target_lang=target,
        outputs=tuple(outputs),
        visual_context=draw(st.booleans()),
        dub_length_factor=draw(st.floats(1.0, 1.5)),
        max_chunk_s=draw(st.sampled_from([0.0, 0.0, 60.0, 300.0])),
        limits=Limits(
            input_margin=draw(st.floats(0, 0.2)),
            output_margin=draw(st.floats(0, 0.3)),
            max_payload_chars=draw(st.sampled_from([DATA_URI_LIMIT_CHARS, None])),
        ),
    )
    return Source(
        duration_s=speech.duration_s, speech=speech, video=draw(videos(speech.duration_s))
    ), options


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_cases())
def test_every_chunk_fits_every_limit_and_chunks_tile_the_timeline(
    case: tuple[Source, PlanOptions],
) -> None:
    source, options = case
    plan = plan_chunks(source, options)
    chunks = plan.chunks

    # Tiling: from 0 to the end, no gaps, no overlaps, nothing empty.
    assert chunks[0].span.start_s == 0
    assert chunks[-1].span.end_s == pytest.approx(source.duration_s)
    for before, after in itertools.pairwise(chunks):
        assert before.span.end_s == after.span.start_s
    assert all(c.span.duration_s > 0 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))

    # No speech is lost or counted twice.
    total_speech = sum(r.duration_s for r in source.speech.regions)
    assert sum(c.speech_s for c in chunks) == pytest.approx(total_speech, abs=1e-6)

    limits = options.limits
    for chunk in chunks:
        if chunk.silent:
            assert chunk.cost.input_tokens == 0 and chunk.cost.output_tokens == 0
            continue
        # The recorded costs are the formulas, recomputed here independently.
        duration = chunk.span.duration_s
        assert chunk.cost.audio_tokens == tokens.audio_tokens(duration)
        expected_video = 0
        if options.visual_context and source.video is not None:
            v = source.video
            video_s = min(chunk.span.end_s, v.duration_s) - chunk.span.start_s
            expected_video = _expected_video(v, video_s) if video_s > 0 else 0
        assert chunk.cost.video_tokens == expected_video
        dub = (
            tokens.audio_tokens(chunk.speech_s * options.dub_length_factor)
            if options.wants_dub
            else 0
        )
        assert chunk.cost.output_audio_tokens == dub
        # The limits, with their margins, and so the provider's own limits too.
        assert chunk.cost.input_tokens <= limits.input_budget <= tokens.MAX_INPUT_TOKENS
        assert chunk.cost.output_tokens <= limits.output_budget <= tokens.MAX_OUTPUT_TOKENS
        if limits.max_payload_chars is not None:
            assert chunk.cost.payload_chars <= DATA_URI_LIMIT_CHARS
        else:
            assert chunk.delivery == (
                "url" if chunk.cost.payload_chars > DATA_URI_LIMIT_CHARS else "inline"
            )
        if options.max_chunk_s:
            assert duration <= options.max_chunk_s + 1e-6

    # Cuts go through silence, unless the chunk says it was cut through speech.
    for before, after in itertools.pairwise(chunks):
        cut = before.span.end_s
        inside = any(r.start_s < cut < r.end_s for r in source.speech.regions)
        if inside:
            assert before.cut_through_speech and after.cut_through_speech
            assert any("cut_through_speech" in w for w in plan.warnings)


def _speech(spans: list[tuple[float, float]], duration: float) -> SpeechMap:
    quiet = tuple(QuietPoint(s + 0.5, -50.0) for s in range(int(duration)))
    return SpeechMap(
        regions=tuple(Span(a, b) for a, b in spans), duration_s=duration, quiet_points=quiet
    )


def test_a_short_file_is_one_chunk() -> None:
    speech = _speech([(1.0, 4.0), (5.0, 9.0)], 10.0)
    plan = plan_chunks(Source(10.0, speech), PlanOptions(target_lang="en"))
    assert [(c.span.start_s, c.span.end_s) for c in plan.chunks] == [(0.0, 10.0)]
    assert plan.requests == 1
    assert plan.estimate.input_audio == 125


def test_no_speech_means_no_requests() -> None:
    plan = plan_chunks(Source(30.0, _speech([], 30.0)), PlanOptions(target_lang="en"))
    assert plan.no_speech
    assert plan.requests == 0
    assert plan.estimate.total == 0
    assert [c.span for c in plan.chunks] == [Span(0.0, 30.0)]


def test_long_silences_are_cut_out_and_never_sent() -> None:
    speech = _speech([(0.0, 10.0), (100.0, 110.0)], 110.0)
    plan = plan_chunks(Source(110.0, speech), PlanOptions(target_lang="en"))
    assert [c.silent for c in plan.chunks] == [False, True, False]
    assert plan.chunks[1].span == Span(10.5, 99.5)
    assert plan.estimate.input_audio == tokens.audio_tokens(10.5) * 2


def test_dub_output_makes_chunks_far_smaller_than_text_only() -> None:
    # 40 minutes of 6 s utterances separated by 1 s pauses.
    spans = [(7.0 * i, 7.0 * i + 6.0) for i in range(343)]
    speech = _speech(spans, 2401.0)
    text_only = plan_chunks(
        Source(2401.0, speech), PlanOptions(target_lang="en", outputs=("text", "srt"))
    )
    dubbed = plan_chunks(
        Source(2401.0, speech), PlanOptions(target_lang="en", outputs=("text", "srt", "wav"))
    )
    assert dubbed.requests > 3 * text_only.requests
    longest_dub_speech = max(c.speech_s for c in dubbed.chunks)
    assert 150 < longest_dub_speech < 200  # ~18 output tokens per second of speech
    assert max(c.speech_s for c in text_only.chunks) > 600


def test_chunks_are_cut_at_the_longest_pause_near_an_even_share() -> None:
    # Speech throughout, with short pauses, and one long pause near the middle.
    spans = [(i * 10.0, i * 10.0 + 9.7) for i in range(120)]
    spans[59] = (590.0, 596.0)  # a 4 s pause at 596-600
    speech = _speech(spans, 1200.0)
    plan = plan_chunks(Source(1200.0, speech), PlanOptions(target_lang="en", max_chunk_s=700.0))
    assert plan.requests == 2
    assert plan.chunks[0].span.end_s == pytest.approx(598.0)


def test_one_long_speech_region_is_cut_through_at_a_quiet_point_with_a_warning() -> None:
    speech = _speech([(0.0, 400.0)], 400.0)
    plan = plan_chunks(
        Source(400.0, speech), PlanOptions(target_lang="en", outputs=("text", "wav"))
    )
    assert plan.requests >= 2
    assert all(c.cut_through_speech for c in plan.chunks)
    assert any(w.startswith("cut_through_speech") for w in plan.warnings)
    for chunk in plan.chunks[:-1]:
        assert chunk.span.end_s % 1 == pytest.approx(0.5)  # a quiet point


def test_visual_context_costs_about_sixteen_thousand_tokens_per_long_chunk() -> None:
    spans = [(7.0 * i, 7.0 * i + 6.0) for i in range(40)]
    speech = _speech(spans, 280.0)
    video = VideoProps(width=1280, height=720, fps=30.0, frames=8400, codec="h264")
    off = plan_chunks(Source(280.0, speech, video), PlanOptions(target_lang="en"))
    on = plan_chunks(
        Source(280.0, speech, video), PlanOptions(target_lang="en", visual_context=True)
    )
    assert off.estimate.input_video == 0
    assert on.estimate.input_video == pytest.approx(16_386 * on.requests, rel=0.02)
    assert on.estimate.input_audio == off.estimate.input_audio


def test_a_truncated_chunk_splits_into_two_halves_at_a_pause() -> None:
    spans = [(i * 5.0, i * 5.0 + 4.5) for i in range(24)]
    speech = _speech(spans, 120.0)
    plan = plan_chunks(Source(120.0, speech), PlanOptions(target_lang="en"))
    (chunk,) = plan.chunks
    halves = split_chunk(chunk, Source(120.0, speech), PlanOptions(target_lang="en"), first_index=7)
    assert halves is not None
    left, right = halves
    assert (left.index, right.index) == (7, 8)
    assert left.span.start_s == 0 and right.span.end_s == 120.0
    assert left.span.end_s == right.span.start_s == pytest.approx(59.75)
    assert not left.cut_through_speech


def test_a_chunk_too_short_to_split_is_not_split() -> None:
    speech = _speech([(0.5, 3.0)], 3.5)
    (chunk,) = plan_chunks(Source(3.5, speech), PlanOptions(target_lang="en")).chunks
    assert (
        split_chunk(chunk, Source(3.5, speech), PlanOptions(target_lang="en"), first_index=1)
        is None
    )


def test_payload_estimates_for_audio_are_compact() -> None:
    # 16 kHz mono MP3 at 32 kbps: half an hour still fits in one data URI.
    assert audio_payload_chars(1800.0) < DATA_URI_LIMIT_CHARS


def _expected_video(v: VideoProps, duration: float) -> int:
    try:
        return video_payload(
            source_width=v.width, source_height=v.height, source_fps=v.fps, duration_s=duration
        ).tokens
    except MediaError:
        return 0


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(32, 4000),
    ratio=st.floats(1 / 150, 150),
    fps=st.sampled_from([12.0, 23.976, 25.0, 29.97, 30.0, 59.94, 60.0]),
    duration=st.floats(1.0, 600.0),
)
def test_a_shaped_video_payload_never_bills_more_than_the_source_chunk(
    width: int, ratio: float, fps: float, duration: float
) -> None:
    height = max(32, min(4000, round(width * ratio)))
    frames = round(duration * fps)
    source_tokens = tokens.video_tokens(height=height, width=width, total_frames=frames, fps=fps)
    shaped = video_payload(
        source_width=width, source_height=height, source_fps=fps, duration_s=frames / fps
    )
    assert shaped.tokens <= source_tokens
    assert shaped.frames <= max(frames, 200)
