"""Cue timing: from the speech map, with minimum and maximum durations, gaps and chaining."""

from __future__ import annotations

from itertools import pairwise

import pytest

from ltb.timeline import Span
from pipeline.subtitles import Cue, TimedText, build_cues

FRAME_S = 1 / 24
GAP_S = 0.084  # 2 frames at 24 fps, rounded up to the millisecond
MIN_S = 5 / 6


def cues_for(text: str, *regions: tuple[float, float], end_s: float = 60.0) -> list[Cue]:
    spans = tuple(Span(start, end) for start, end in regions)
    fallback = Span(spans[0].start_s, spans[-1].end_s) if spans else Span(0.0, end_s)
    return build_cues([TimedText(text, spans, fallback)], "en", timeline_end_s=end_s)


def duration(cue: Cue) -> float:
    return cue.end_s - cue.start_s


def assert_valid(cues: list[Cue], *, end_s: float) -> None:
    for cue in cues:
        assert 0 <= cue.start_s < cue.end_s <= end_s
        assert 1 <= len(cue.lines) <= 2
    for cue, following in pairwise(cues):
        assert cue.end_s <= following.start_s


def test_a_sentence_fills_its_speech_region() -> None:
    assert cues_for("Did you see the game last night?", (2.0, 4.0)) == [
        Cue(2.0, 4.0, ("Did you see the game last night?",))
    ]


def test_sentences_follow_their_own_speech_regions() -> None:
    first, second = cues_for(
        "Good morning, everyone. Thank you all for coming here today.", (1.0, 3.0), (5.0, 8.0)
    )
    assert first.lines == ("Good morning, everyone.",)
    assert (first.start_s, first.end_s) == (1.0, 3.0)
    assert second.lines == ("Thank you all for coming here today.",)
    assert (second.start_s, second.end_s) == (5.0, 8.0)


def test_a_long_region_shares_its_time_between_sentences_by_characters() -> None:
    sentences = ["We went to the park.", "It was sunny.", "Then we walked home along the river."]
    cues = cues_for(" ".join(sentences), (0.0, 8.0))
    assert [cue.lines for cue in cues] == [(sentence,) for sentence in sentences]
    total = len(" ".join(sentences))
    second_start = 8.0 * len(sentences[0]) / total
    third_start = 8.0 * (len(sentences[0]) + 1 + len(sentences[1])) / total
    assert cues[1].start_s == pytest.approx(second_start, abs=0.01)
    assert cues[2].start_s == pytest.approx(third_start, abs=0.01)
    assert cues[-1].end_s == 8.0


def test_a_sentence_spanning_a_long_pause_is_split_at_the_pause() -> None:
    text = (
        "I looked everywhere for my keys this morning before work, "
        "and in the end they were in my coat pocket all along."
    )
    cues = cues_for(text, (0.0, 3.5), (6.0, 9.5))
    # No cue stays on screen through the 2.5 s of silence.
    assert all(cue.end_s <= 3.5 + 0.5 or cue.start_s >= 6.0 - 2 * FRAME_S for cue in cues)
    assert any(cue.start_s >= 6.0 - 2 * FRAME_S for cue in cues)
    assert " ".join(line for cue in cues for line in cue.lines) == text


def test_cues_start_no_earlier_than_two_frames_before_their_speech(phrases, joiner) -> None:
    regions = [(0.5, 4.0), (4.6, 9.0), (10.5, 15.0), (15.3, 21.0), (23.0, 28.0)]
    cues = cues_for(joiner("en", phrases["en"]), *regions, end_s=30.0)
    assert len(cues) >= 8
    for cue in cues:
        assert any(start - 2 * FRAME_S - 0.001 <= cue.start_s <= end for start, end in regions), cue
        assert cue.start_s >= regions[0][0] - 2 * FRAME_S
        assert cue.end_s <= regions[-1][1] + 0.5


@pytest.mark.parametrize("pause_s", [0.1, 0.3, 0.5])
def test_a_pause_of_half_a_second_or_less_is_chained_to_two_frames(pause_s: float) -> None:
    first, second = cues_for(
        "That's a great idea! Let's go there now.", (1.0, 3.0), (3.0 + pause_s, 5.0)
    )
    assert second.start_s == pytest.approx(3.0 + pause_s)
    assert second.start_s - first.end_s == pytest.approx(GAP_S, abs=1e-9)


def test_a_longer_pause_is_left_open() -> None:
    first, second = cues_for("That's a great idea! Let's go there now.", (1.0, 3.0), (3.8, 5.8))
    assert first.end_s == 3.0
    assert second.start_s == pytest.approx(3.8)


def test_the_gap_is_two_frames_at_the_source_frame_rate() -> None:
    chunk = TimedText(
        "That's a great idea! Let's go there now.", (Span(1, 3), Span(3.2, 5)), Span(1, 5)
    )
    first, second = build_cues([chunk], "en", timeline_end_s=10.0, fps=25.0)
    assert second.start_s - first.end_s == pytest.approx(0.08, abs=1e-9)


def test_a_short_cue_lingers_into_silence_to_its_minimum_duration() -> None:
    cues = cues_for("Yes. We should probably leave before the rain starts.", (2.0, 2.3), (6.0, 9.0))
    assert cues[0] == Cue(2.0, 2.0 + 0.834, ("Yes.",))


def test_a_short_cue_in_dense_speech_borrows_time_from_its_neighbour() -> None:
    # Too long to share a cue with "Yes.", so "Yes." stands alone between two pieces of speech.
    text = "Yes. We should probably leave the house right now, before the heavy rain starts again."
    cues = cues_for(text, (2.0, 2.3), (2.45, 7.0))
    assert [cue.lines[0] for cue in cues] == ["Yes.", "We should probably leave the house right"]
    assert all(duration(cue) >= MIN_S - 0.0005 for cue in cues)
    assert cues[1].start_s - cues[0].end_s == pytest.approx(GAP_S, abs=1e-9)
    assert cues[0].start_s >= 2.0 - 2 * FRAME_S


def test_short_sentences_share_a_cue_when_they_fit() -> None:
    text = "Yes. No. We should leave before the rain starts."
    (cue,) = cues_for(text, (2.0, 2.3), (2.45, 6.0))
    assert " ".join(cue.lines) == text


def test_continuous_speech_is_cut_into_chained_cues_of_at_most_seven_seconds(
    phrases, joiner
) -> None:
    text = joiner("en", phrases["en"] * 2)
    cues = cues_for(text, (0.0, 60.0), end_s=60.0)
    assert_valid(cues, end_s=60.0)
    assert all(MIN_S - 0.0005 <= duration(cue) <= 7.0 for cue in cues)
    assert all(
        following.start_s - cue.end_s == pytest.approx(GAP_S, abs=1e-9)
        for cue, following in pairwise(cues)
    )
    assert " ".join(line for cue in cues for line in cue.lines) == text


def test_little_text_over_a_long_region_shows_for_at_most_seven_seconds() -> None:
    assert cues_for("Hello.", (10.0, 70.0), end_s=80.0) == [Cue(10.0, 17.0, ("Hello.",))]


def test_reading_speed_may_extend_a_cue_half_a_second_past_its_speech() -> None:
    text = "Everybody who was there that night saw it happen in front of them."  # 66 chars
    (cue,) = cues_for(text, (1.0, 3.5))
    reading_s = sum(len(line) for line in cue.lines) / 20
    assert reading_s > 3.0  # speech alone gives 2.5 s; the rule allows 3.0 s plus 2 frames
    assert cue.end_s == 4.0
    assert cue.start_s == pytest.approx(1.0 - 0.083)


def test_reading_time_never_pushes_into_the_next_cue() -> None:
    text = "Everybody who was there that night saw it happen. Then they all ran away."
    first, second = cues_for(text, (1.0, 3.0), (3.2, 5.0))
    assert second.start_s == pytest.approx(3.2)
    assert second.start_s - first.end_s == pytest.approx(GAP_S, abs=1e-9)


def test_text_without_speech_is_placed_over_the_chunk_bounds() -> None:
    chunk = TimedText("Music plays. Nobody speaks for a while.", (), Span(12.0, 18.0))
    cues = build_cues([chunk], "en", timeline_end_s=30.0)
    assert cues
    assert cues[0].start_s >= 12.0 - 2 * FRAME_S
    assert cues[-1].end_s <= 18.0 + 0.5
    assert_valid(cues, end_s=30.0)


@pytest.mark.parametrize("text", ["", "   ", "\n", "\u200b"])
def test_a_chunk_with_no_text_gives_no_cues(text: str) -> None:
    chunk = TimedText(text, (Span(1.0, 5.0),), Span(0.0, 6.0))
    assert build_cues([chunk], "en", timeline_end_s=10.0) == []


def test_no_chunks_give_no_cues() -> None:
    assert build_cues([], "ja", timeline_end_s=10.0) == []


def test_cues_never_run_past_the_end_of_the_timeline() -> None:
    cues = cues_for(
        "This sentence is spoken right at the very end of the film.", (8.0, 12.0), end_s=10.0
    )
    assert cues
    assert_valid(cues, end_s=10.0)
    assert cues[-1].end_s == 10.0


def test_overlapping_chunks_still_give_sorted_cues_that_never_overlap() -> None:
    chunks = [
        TimedText(
            "The first chunk talks about the weather today.", (Span(0.0, 5.0),), Span(0.0, 5.0)
        ),
        TimedText("The second one overlaps it by two seconds.", (Span(3.0, 8.0),), Span(3.0, 8.0)),
        TimedText("A third has no speech at all.", (), Span(2.0, 4.0)),
    ]
    cues = build_cues(chunks, "en", timeline_end_s=10.0)
    assert_valid(cues, end_s=10.0)
    assert len(cues) == 3


def test_chunks_are_placed_in_timeline_order_whatever_order_they_come_in() -> None:
    later = TimedText("Later words.", (Span(5.0, 6.5),), Span(5.0, 7.0))
    earlier = TimedText("Earlier words.", (Span(1.0, 2.5),), Span(0.0, 3.0))
    cues = build_cues([later, earlier], "en", timeline_end_s=10.0)
    assert [cue.lines for cue in cues] == [("Earlier words.",), ("Later words.",)]


@pytest.mark.parametrize(
    ("lang", "end_s", "fps", "message"),
    [
        ("xx", 10.0, 24.0, "no subtitle rules"),
        ("en", -1.0, 24.0, "timeline_end_s"),
        ("en", float("nan"), 24.0, "timeline_end_s"),
        ("en", 10.0, 0.0, "frame rate"),
    ],
)
def test_invalid_arguments_are_refused(lang: str, end_s: float, fps: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_cues([], lang, timeline_end_s=end_s, fps=fps)
