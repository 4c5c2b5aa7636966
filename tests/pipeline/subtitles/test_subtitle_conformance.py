"""Conformance: the figures are right, and realistic text in every target meets the rules."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from itertools import pairwise

import pytest

from ltb.languages import LANGUAGES
from ltb.timeline import Span
from pipeline.subtitles import Cue, TimedText, build_cues, conformance, write_srt, write_vtt

# Reading-speed limits restated here, so the test does not grade the module with its own table.
MAX_CHARS_PER_S = {"ja": 4.0, "zh": 9.0, "yue": 9.0, "ko": 12.0}


def dialogue(
    lang: str,
    phrases: dict[str, list[str]],
    rates: dict[str, float],
    joiner: Callable[[str, list[str]], str],
    *,
    seed: int,
) -> tuple[list[TimedText], float]:
    """Chunks of 1–3 sentences per speech region, spoken at a plausible rate, with pauses."""
    rng = random.Random(seed)
    lines = phrases[lang]
    chunks: list[TimedText] = []
    clock_s, said = 0.5, 0
    for _ in range(4):
        chunk_start_s = clock_s
        regions, texts = [], []
        for _ in range(5):
            count = rng.randint(1, 3)
            text = joiner(lang, [lines[(said + k) % len(lines)] for k in range(count)])
            said += count
            speech_s = len(text) / rates[lang] * rng.uniform(0.85, 1.15)
            regions.append(Span(round(clock_s, 3), round(clock_s + speech_s, 3)))
            texts.append(text)
            clock_s += speech_s + rng.uniform(0.2, 1.5)
        chunk_text = joiner(lang, texts) if lang not in ("th",) else " ".join(texts)
        chunks.append(TimedText(chunk_text, tuple(regions), Span(chunk_start_s, clock_s)))
    return chunks, clock_s + 1.0


@pytest.mark.parametrize("lang", list(LANGUAGES))
@pytest.mark.parametrize("seed", [1, 2])
def test_realistic_dialogue_meets_the_achievable_rules(
    lang: str, seed: int, phrases, speaking_rates, joiner, read_srt, read_vtt
) -> None:
    chunks, end_s = dialogue(lang, phrases, speaking_rates, joiner, seed=seed)
    cues = build_cues(chunks, lang, timeline_end_s=end_s)
    report = conformance(cues, lang)

    assert report.cue_count == len(cues) >= 20
    assert report.max_chars_per_line == 1.0
    assert report.max_lines == 1.0
    assert report.max_duration == 1.0
    assert report.min_gap == 1.0
    assert report.min_duration >= 0.95
    if lang != "ja":
        assert report.reading_speed >= 0.9
        assert report.all_rules >= 0.85
    assert len(read_srt(write_srt(cues))) == len(cues)
    assert len(read_vtt(write_vtt(cues))) == len(cues)


def test_japanese_reading_speed_is_reported_as_missed(phrases, speaking_rates, joiner) -> None:
    # Spoken Japanese runs near 7 characters a second; the guide's figure is 4.
    chunks, end_s = dialogue("ja", phrases, speaking_rates, joiner, seed=1)
    cues = build_cues(chunks, "ja", timeline_end_s=end_s)
    report = conformance(cues, "ja")
    too_fast = [
        cue
        for cue in cues
        if sum(len(line) for line in cue.lines) / (cue.end_s - cue.start_s) > MAX_CHARS_PER_S["ja"]
    ]
    assert len(too_fast) > len(cues) / 2
    assert report.reading_speed == pytest.approx(1 - len(too_fast) / len(cues))
    assert report.all_rules <= report.reading_speed
    # Missing the reading speed does not excuse breaking the rules that can be kept.
    assert report.max_chars_per_line == report.max_lines == report.min_gap == 1.0


def test_no_cues_meet_every_rule() -> None:
    report = conformance([], "en")
    assert report.cue_count == 0
    assert report.as_dict() == {
        "target_lang": "en",
        "cue_count": 0,
        "max_chars_per_line": 1.0,
        "max_lines": 1.0,
        "min_duration": 1.0,
        "max_duration": 1.0,
        "reading_speed": 1.0,
        "min_gap": 1.0,
        "all_rules": 1.0,
    }


def test_each_rule_is_measured_on_its_own() -> None:
    cues = [
        Cue(0.0, 2.0, ("A fine cue.",)),  # meets everything
        Cue(2.083, 2.5, ("Too short.",)),  # 83 ms gap is 2 frames; too short, too fast
        Cue(2.6, 10.0, ("x" * 43,)),  # 100 ms gap; too long; line too long
        Cue(10.05, 12.0, ("one", "two", "three")),  # 50 ms gap before it; three lines
        Cue(12.5, 13.5, ("Twenty-one characters",)),  # 21 chars in 1 s: too fast for en
    ]
    report = conformance(cues, "en")
    assert report.cue_count == 5
    assert report.max_chars_per_line == pytest.approx(4 / 5)
    assert report.max_lines == pytest.approx(4 / 5)
    assert report.min_duration == pytest.approx(4 / 5)
    assert report.max_duration == pytest.approx(4 / 5)
    assert report.reading_speed == pytest.approx(3 / 5)
    # Only the cue followed by a 50 ms gap misses; the last cue has nothing after it.
    assert report.min_gap == pytest.approx(4 / 5)
    assert report.all_rules == pytest.approx(1 / 5)


def test_reading_speed_counts_half_width_characters_as_half_in_cjk() -> None:
    # 7 full-width + 4 half-width = 9 in 1.2 s: 7.5/s, within zh's 9 (11 whole would be 9.2/s).
    assert conformance([Cue(0.0, 1.2, ("我们一起去看ABCD吧",))], "zh").reading_speed == 1.0
    # Korean spaces are half-width: 11 syllables + 2 spaces = 12 in 1 s, exactly ko's 12.
    assert conformance([Cue(0.0, 1.0, ("가나다라 마바사아 자차카",))], "ko").reading_speed == 1.0
    assert conformance([Cue(0.0, 1.0, ("가나다라마바사아자차카타파",))], "ko").reading_speed == 0.0
    # Outside CJK every character counts whole: 21 in 1 s is over en's 20.
    assert conformance([Cue(0.0, 1.0, ("ABCDEFGHIJ KLMNOPQRST",))], "en").reading_speed == 0.0


def test_gaps_are_judged_at_millisecond_resolution() -> None:
    def gap_ok(gap_s: float, fps: float) -> float:
        """The min_gap share of two cues `gap_s` apart: 1.0 if the gap meets the rule, else 0.5."""
        cues = [Cue(0.0, 1.0, ("One.",)), Cue(1.0 + gap_s, 2.0, ("Two.",))]
        return conformance(cues, "en", fps=fps).min_gap

    assert gap_ok(0.083, 24.0) == 1.0  # 2 frames are 83.3 ms, written as 83 ms
    assert gap_ok(0.082, 24.0) == 0.5
    assert gap_ok(0.080, 25.0) == 1.0
    assert gap_ok(0.079, 25.0) == 0.5


def test_the_report_is_plain_json() -> None:
    cues = build_cues(
        [TimedText("Hello there. How are you?", (Span(0.0, 2.0),), Span(0.0, 2.0))],
        "en",
        timeline_end_s=5.0,
    )
    payload = conformance(cues, "en").as_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["cue_count"] == len(cues)


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_built_cues_never_overlap_and_keep_every_word(
    lang: str, phrases, speaking_rates, joiner
) -> None:
    chunks, end_s = dialogue(lang, phrases, speaking_rates, joiner, seed=7)
    cues = build_cues(chunks, lang, timeline_end_s=end_s)
    for cue, following in pairwise(cues):
        assert cue.end_s < following.start_s
    shown = "".join(line.replace(" ", "") for cue in cues for line in cue.lines)
    spoken = "".join(chunk.text.replace(" ", "") for chunk in chunks)
    assert shown == spoken
