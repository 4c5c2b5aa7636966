"""Cue edits are applied in place and checked: every cue must still make a valid file,
and the cues an edit touches must meet the target language's rules."""

from __future__ import annotations

from pipeline.subtitles.cues import Cue
from pipeline.subtitles.edits import CueEdit, apply_edits

CUES = [
    Cue(1.0, 3.0, ("Hello there.",)),
    Cue(3.5, 6.0, ("How are you", "today?")),
    Cue(7.0, 9.0, ("Fine, thanks.",)),
]


def test_an_edit_replaces_the_text_and_times_of_its_cue_only() -> None:
    outcome = apply_edits(
        CUES,
        [CueEdit(index=2, text="How are you\ndoing today?", start_s=3.4)],
        target_lang="en",
    )
    assert outcome.violations == []
    assert outcome.cues[1] == Cue(3.4, 6.0, ("How are you", "doing today?"))
    assert outcome.cues[0] == CUES[0] and outcome.cues[2] == CUES[2]


def test_each_violation_names_its_cue_and_rule() -> None:
    outcome = apply_edits(
        CUES,
        [
            CueEdit(index=1, text="x" * 50),  # longer than English's 42 per line
            CueEdit(index=3, start_s=5.0),  # starts before cue 2 ends
        ],
        target_lang="en",
    )
    assert [(v.index, v.rule) for v in outcome.violations] == [(3, "overlap")]
    outcome = apply_edits(CUES, [CueEdit(index=1, text="x" * 50)], target_lang="en")
    rules = {(v.index, v.rule) for v in outcome.violations}
    assert (1, "max_chars_per_line") in rules
    assert all("cue 1" in v.message for v in outcome.violations)


def test_format_problems_are_reported_for_every_cue_at_once() -> None:
    outcome = apply_edits(
        CUES,
        [
            CueEdit(index=1, text="  "),
            CueEdit(index=2, text="a --> b"),
            CueEdit(index=3, end_s=6.5),
        ],
        target_lang="en",
    )
    assert [(v.index, v.rule) for v in outcome.violations] == [
        (1, "format"),
        (2, "format"),
        (3, "format"),
    ]
    assert "cue 3" in outcome.violations[2].message


def test_unknown_and_repeated_indices_are_refused() -> None:
    outcome = apply_edits(
        CUES,
        [CueEdit(index=4, text="x"), CueEdit(index=0), CueEdit(index=2), CueEdit(index=2)],
        target_lang="en",
    )
    assert [(v.index, v.rule) for v in outcome.violations] == [
        (0, "unknown_cue"),
        (2, "duplicate_edit"),
        (4, "unknown_cue"),
    ]


def test_a_rule_an_untouched_cue_already_breaks_does_not_block_an_edit() -> None:
    fast = [Cue(1.0, 1.9, ("A line far too long to read in under a second.",)), *CUES[1:]]
    outcome = apply_edits(fast, [CueEdit(index=3, text="Fine.")], target_lang="en")
    assert outcome.violations == []
    # Edited, the same cue is held to the rules.
    outcome = apply_edits(fast, [CueEdit(index=1, start_s=1.0)], target_lang="en")
    assert {v.rule for v in outcome.violations} >= {"reading_speed"}


def test_moving_a_cue_close_to_the_one_before_breaks_that_cue_s_gap() -> None:
    outcome = apply_edits(CUES, [CueEdit(index=2, start_s=3.01)], target_lang="en")
    assert [(v.index, v.rule) for v in outcome.violations] == [(1, "min_gap")]
