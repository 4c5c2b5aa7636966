"""SRT and VTT writers: the exact format, read back strictly, and refusal of bad cues."""

from __future__ import annotations

import math

import pytest

from pipeline.subtitles import Cue, write_srt, write_vtt

CUES = [
    Cue(1.0, 2.5, ("Hello,", "world.")),
    Cue(2.6, 4.0, ("Second cue.",)),
    Cue(3661.001, 3662.999, ("An hour later: 中文 العربية",)),
]


def test_srt_has_the_exact_format() -> None:
    assert write_srt(CUES) == (
        "1\n00:00:01,000 --> 00:00:02,500\nHello,\nworld.\n"
        "\n"
        "2\n00:00:02,600 --> 00:00:04,000\nSecond cue.\n"
        "\n"
        "3\n01:01:01,001 --> 01:01:02,999\nAn hour later: 中文 العربية\n"
    )


def test_vtt_has_the_exact_format() -> None:
    assert write_vtt(CUES) == (
        "WEBVTT\n"
        "\n"
        "00:00:01.000 --> 00:00:02.500\nHello,\nworld.\n"
        "\n"
        "00:00:02.600 --> 00:00:04.000\nSecond cue.\n"
        "\n"
        "01:01:01.001 --> 01:01:02.999\nAn hour later: 中文 العربية\n"
    )


def test_srt_reads_back_strictly(read_srt) -> None:
    read = read_srt(write_srt(CUES))
    assert [(cue.start_ms, cue.end_ms, cue.lines) for cue in read] == [
        (1000, 2500, ("Hello,", "world.")),
        (2600, 4000, ("Second cue.",)),
        (3661001, 3662999, ("An hour later: 中文 العربية",)),
    ]


def test_vtt_reads_back_strictly(read_vtt) -> None:
    assert [cue.lines for cue in read_vtt(write_vtt(CUES))] == [cue.lines for cue in CUES]


def test_no_cues_make_an_empty_srt_and_a_header_only_vtt(read_srt, read_vtt) -> None:
    assert write_srt([]) == ""
    assert write_vtt([]) == "WEBVTT\n"
    assert read_srt("") == []
    assert read_vtt("WEBVTT\n") == []


def test_vtt_escapes_markup_characters() -> None:
    assert "Tom &amp; Jerry &lt;3 &gt;" in write_vtt([Cue(0.0, 1.0, ("Tom & Jerry <3 >",))])
    # SRT has no escaping; the text is written as it is.
    assert "Tom & Jerry <3" in write_srt([Cue(0.0, 1.0, ("Tom & Jerry <3",))])


def test_touching_cues_are_not_an_overlap() -> None:
    assert write_srt([Cue(0.0, 1.0, ("a",)), Cue(1.0, 2.0, ("b",))]).count("-->") == 2


def test_rounding_is_checked_after_it_is_done() -> None:
    # 1.0006 s rounds to 1001 ms and 1.0004 s to 1000 ms: written, they would overlap.
    with pytest.raises(ValueError, match="overlap"):
        write_srt([Cue(0.0, 1.0006, ("a",)), Cue(1.0004, 2.0, ("b",))])
    # A cue shorter than half a millisecond would be written with no duration at all.
    with pytest.raises(ValueError, match="ends at or before"):
        write_srt([Cue(1.0, 1.0004, ("a",))])


@pytest.mark.parametrize(
    ("cues", "message"),
    [
        ([Cue(0.0, 2.0, ("a",)), Cue(1.0, 3.0, ("b",))], "overlap"),
        ([Cue(5.0, 6.0, ("a",)), Cue(1.0, 2.0, ("b",))], "sorted"),
        ([Cue(2.0, 2.0, ("a",))], "ends at or before"),
        ([Cue(3.0, 2.0, ("a",))], "ends at or before"),
        ([Cue(0.0, 1.0, ())], "0 lines"),
        ([Cue(0.0, 1.0, ("a", "b", "c"))], "3 lines"),
        ([Cue(0.0, 1.0, ("a", "  "))], "blank"),
        ([Cue(0.0, 1.0, ("",))], "blank"),
        ([Cue(0.0, 1.0, ("\u200b",))], "blank"),
        ([Cue(0.0, 1.0, ("two\nlines",))], "line break"),
        ([Cue(0.0, 1.0, ("carriage\rreturn",))], "line break"),
        ([Cue(0.0, 1.0, ("para\u2029graph",))], "line break"),
        ([Cue(0.0, 1.0, ("a --> b",))], "-->"),
        ([Cue(0.0, 1.0, ("bad \udc80 surrogate",))], "UTF-8"),
        ([Cue(-1.0, 1.0, ("a",))], "invalid time"),
        ([Cue(math.nan, 1.0, ("a",))], "invalid time"),
        ([Cue(0.0, math.inf, ("a",))], "invalid time"),
    ],
)
def test_writers_refuse_invalid_cues(cues: list[Cue], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_srt(cues)
    with pytest.raises(ValueError, match=message):
        write_vtt(cues)
