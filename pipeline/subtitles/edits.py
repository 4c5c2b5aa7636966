"""Edits to a job's cues, checked before any file is rewritten.

Two kinds of check. Every cue, edited or not, must still make a valid file (times in
order without overlap, 1 or 2 lines, none blank, no `-->`): the writers' own check
(`checked_cues`) is run on each one. The style rules of the target language (line
length, reading speed, durations, the gap to the next cue) are held only against the
cues an edit touches, and the gap of the cue before one: a cue the builder could not fit
to every rule must not make an unrelated correction impossible.

Cues are numbered from 1 in timeline order, as SRT numbers them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.subtitles.conformance import rules_met
from pipeline.subtitles.cues import Cue
from pipeline.subtitles.rules import (
    MAX_DURATION_S,
    MIN_DURATION_S,
    MIN_GAP_FRAMES,
    cue_reading_length,
    line_length,
    rules_for,
)
from pipeline.subtitles.writers import checked_cues

_FIRST_CUE = re.compile(r"^cue 1\b")


@dataclass(frozen=True, slots=True)
class CueEdit:
    """A change to cue `index`: any of its text (lines joined by "\\n") and times."""

    index: int
    text: str | None = None
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the cue it is on, the rule's stable name, and what is wrong."""

    index: int
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class EditOutcome:
    cues: list[Cue]
    violations: list[Violation]


def lines_of(text: str) -> tuple[str, ...]:
    """A cue's text as its lines: split at line breaks, each trimmed."""
    return tuple(line.strip() for line in text.replace("\r\n", "\n").split("\n"))


def apply_edits(
    cues: Sequence[Cue], edits: Sequence[CueEdit], *, target_lang: str, fps: float = 24.0
) -> EditOutcome:
    """The cues with `edits` applied, and every violation they would bring."""
    violations: list[Violation] = []
    edited = list(cues)
    touched: set[int] = set()
    for edit in edits:
        if not 1 <= edit.index <= len(cues):
            violations.append(
                Violation(
                    edit.index, "unknown_cue", f"there is no cue {edit.index} (1 to {len(cues)})"
                )
            )
            continue
        if edit.index in touched:
            violations.append(
                Violation(edit.index, "duplicate_edit", f"cue {edit.index} is edited twice")
            )
            continue
        touched.add(edit.index)
        cue = edited[edit.index - 1]
        edited[edit.index - 1] = Cue(
            start_s=cue.start_s if edit.start_s is None else edit.start_s,
            end_s=cue.end_s if edit.end_s is None else edit.end_s,
            lines=cue.lines if edit.text is None else lines_of(edit.text),
        )
    if not violations:
        violations.extend(_format_violations(edited))
    if not violations:
        violations.extend(_rule_violations(edited, touched, target_lang=target_lang, fps=fps))
    return EditOutcome(edited, sorted(violations, key=lambda v: (v.index, v.rule)))


def _format_violations(cues: Sequence[Cue]) -> list[Violation]:
    found: list[Violation] = []
    for index, cue in enumerate(cues, start=1):
        try:
            checked_cues([cue])
        except ValueError as error:
            found.append(Violation(index, "format", _FIRST_CUE.sub(f"cue {index}", str(error))))
    for index in range(2, len(cues) + 1):
        before, cue = cues[index - 2], cues[index - 1]
        if not all(math.isfinite(t) for t in (before.end_s, cue.start_s)):
            continue  # already reported as an invalid time
        if _ms(cue.start_s) < _ms(before.end_s):
            found.append(
                Violation(
                    index,
                    "overlap",
                    f"cue {index} starts at {cue.start_s:.3f} s, before cue {index - 1} ends "
                    f"({before.end_s:.3f} s): cues keep their order and must not overlap",
                )
            )
    return found


def _rule_violations(
    cues: Sequence[Cue], touched: set[int], *, target_lang: str, fps: float
) -> list[Violation]:
    rules = rules_for(target_lang)
    met = rules_met(cues, target_lang, fps=fps)
    found: list[Violation] = []
    for index, (cue, results) in enumerate(zip(cues, met, strict=True), start=1):
        if index in touched:
            names = [rule for rule, ok in results.items() if not ok]
        elif index + 1 in touched and not results["min_gap"]:
            names = ["min_gap"]
        else:
            continue
        duration_s = (_ms(cue.end_s) - _ms(cue.start_s)) / 1000
        for rule in names:
            if rule == "max_chars_per_line":
                longest = max(line_length(line) for line in cue.lines)
                message = (
                    f"a line of cue {index} has {longest} characters; "
                    f"{target_lang} allows {rules.max_chars_per_line}"
                )
            elif rule == "max_lines":
                message = f"cue {index} has {len(cue.lines)} lines; at most 2"
            elif rule == "min_duration":
                message = (
                    f"cue {index} is shown {duration_s:.3f} s; at least {MIN_DURATION_S:.3f} s"
                )
            elif rule == "max_duration":
                message = f"cue {index} is shown {duration_s:.3f} s; at most {MAX_DURATION_S:.1f} s"
            elif rule == "reading_speed":
                speed = cue_reading_length(cue.lines, rules=rules) / max(duration_s, 1e-9)
                message = (
                    f"cue {index} needs {speed:.1f} characters per second; "
                    f"{target_lang} allows {rules.max_chars_per_s:g}"
                )
            else:
                message = (
                    f"cue {index} must end at least {MIN_GAP_FRAMES} frames "
                    f"({MIN_GAP_FRAMES * 1000 / fps:.0f} ms) before cue {index + 1} starts"
                )
            found.append(Violation(index, rule, message))
    return found


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
