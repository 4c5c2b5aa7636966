"""Segments are cut in pauses within the length and the input limit; answers are placed
on the speech map's regions."""

from __future__ import annotations

import itertools

from ltb import tokens
from ltb.timeline import Span
from pipeline.realtime.segments import FrameSize, SegmentLimits, plan_segments
from pipeline.realtime.timing import place_answers


def regions_every(step_s: float, count: int, speech_s: float = 4.0) -> list[Span]:
    return [Span(i * step_s + 1.0, i * step_s + 1.0 + speech_s) for i in range(count)]


def test_the_realtime_input_formula_counts_audio_and_every_frame() -> None:
    # 60 s of audio (750) + 61 frames at 854x480 (262 each)
    assert tokens.realtime_frames(60.0, 1.0) == 61
    assert tokens.realtime_input_tokens(
        60.0, frames=61, frame_width=854, frame_height=480
    ) == 750 + 61 * tokens.image_tokens(width=854, height=480)


def test_segments_are_cut_in_pauses_no_longer_than_the_setting_and_about_equal() -> None:
    regions = regions_every(5.0, 120)  # 10 minutes of 4 s utterances with 1 s pauses
    segments = plan_segments(regions, duration_s=601.0, limits=SegmentLimits(max_segment_s=150))
    assert len(segments) == 5
    assert all(s.span.duration_s <= 150 for s in segments)
    assert sum(len(s.speech) for s in segments) == 120
    for segment in segments:
        # every region whole inside its segment: the cut is in a pause
        assert all(
            segment.span.start_s <= r.start_s and r.end_s <= segment.span.end_s
            for r in segment.speech
        )
        assert not segment.cut_through_speech
    lengths = [s.span.duration_s for s in segments]
    assert max(lengths) - min(lengths) < 15
    for a, b in itertools.pairwise(segments):
        assert a.span.end_s <= b.span.start_s


def test_the_segment_count_fills_whole_rounds_of_sessions() -> None:
    # 600 s needs 5 segments of at most 150 s; on 4 sessions that is two rounds, so 8
    # shorter ones end sooner (2 x 75 s instead of 2 x 120 s).
    segments = plan_segments(
        regions_every(5.0, 120),
        duration_s=601.0,
        limits=SegmentLimits(max_segment_s=150),
        sessions=4,
    )
    assert len(segments) == 8
    assert all(s.span.duration_s <= 80 for s in segments)


def test_frames_shorten_segments_to_keep_each_session_under_the_input_limit() -> None:
    regions = regions_every(5.0, 120)
    limits = SegmentLimits(
        max_segment_s=600, frame_fps=2.0, frame=FrameSize(1920, 1080), input_margin=0.05
    )
    segments = plan_segments(regions, duration_s=601.0, limits=limits)
    assert len(segments) > 1
    assert all(s.input_tokens <= tokens.MAX_INPUT_TOKENS * 0.95 for s in segments)
    assert all(s.frames == tokens.realtime_frames(s.span.duration_s, 2.0) for s in segments)


def test_speech_without_a_pause_is_cut_through_and_says_so() -> None:
    segments = plan_segments(
        [Span(0.0, 400.0)], duration_s=400.0, limits=SegmentLimits(max_segment_s=150)
    )
    assert len(segments) == 3 and all(s.cut_through_speech for s in segments)
    assert all(s.span.duration_s <= 150 for s in segments)


def test_a_silent_source_has_no_segments() -> None:
    assert plan_segments([], duration_s=30.0, limits=SegmentLimits(max_segment_s=150)) == []


def test_answers_match_regions_one_for_one_when_the_counts_agree() -> None:
    regions = regions_every(5.0, 3)
    placed = place_answers([10, 50, 5], regions)
    assert [p.speech for p in placed] == [(r,) for r in regions]


def test_fewer_answers_than_regions_take_neighbouring_regions_by_their_share() -> None:
    regions = [Span(0, 2), Span(3, 5), Span(6, 8), Span(9, 11)]
    placed = place_answers([1, 3], regions)  # the second answer says three times as much
    assert [p.speech for p in placed] == [(regions[0],), tuple(regions[1:])]


def test_more_answers_than_regions_split_the_speech_by_their_share() -> None:
    placed = place_answers([1, 1], [Span(10, 14)])
    assert [p.span for p in placed] == [Span(10, 12), Span(12, 14)]
