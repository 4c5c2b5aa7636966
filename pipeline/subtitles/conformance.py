"""How many cues meet each subtitle rule: the figures the manifest reports.

Cues are judged at the millisecond resolution they are written in: a duration or gap that
rounds to its threshold's nearest millisecond meets it (2 frames at 24 fps is 83.3 ms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pipeline.subtitles.cues import Cue
from pipeline.subtitles.rules import (
    MAX_DURATION_S,
    MAX_LINES,
    MIN_DURATION_S,
    MIN_GAP_FRAMES,
    LanguageRules,
    cue_reading_length,
    line_length,
    rules_for,
)

_HALF_MS = 0.5


@dataclass(frozen=True, slots=True)
class SubtitleConformance:
    """Share of cues (0..1) meeting each rule; an empty cue list meets them all."""

    target_lang: str
    cue_count: int
    max_chars_per_line: float
    max_lines: float
    min_duration: float
    max_duration: float
    reading_speed: float
    min_gap: float
    all_rules: float

    def as_dict(self) -> dict[str, str | int | float]:
        """Plain JSON-able values, for the manifest."""
        return asdict(self)


def conformance(cues: Sequence[Cue], target_lang: str, *, fps: float = 24.0) -> SubtitleConformance:
    """Measures the cues against the rules for `target_lang`."""
    ordered = sorted(cues, key=lambda cue: (cue.start_s, cue.end_s))
    results = rules_met(ordered, target_lang, fps=fps)

    def share(rule: str | None) -> float:
        if not results:
            return 1.0
        met = [all(met.values()) if rule is None else met[rule] for met in results]
        return sum(met) / len(met)

    return SubtitleConformance(
        target_lang=target_lang,
        cue_count=len(ordered),
        max_chars_per_line=share("max_chars_per_line"),
        max_lines=share("max_lines"),
        min_duration=share("min_duration"),
        max_duration=share("max_duration"),
        reading_speed=share("reading_speed"),
        min_gap=share("min_gap"),
        all_rules=share(None),
    )


def rules_met(
    ordered: Sequence[Cue], target_lang: str, *, fps: float = 24.0
) -> list[dict[str, bool]]:
    """Which rules each cue meets, by rule name, for cues in timeline order (each cue's
    gap is measured to the next one in the sequence)."""
    rules = rules_for(target_lang)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"frame rate must be a positive number, got {fps!r}")
    followers: list[Cue | None] = [*ordered[1:], None] if ordered else []
    return [
        _rules_met(cue, following, rules=rules, fps=fps)
        for cue, following in zip(ordered, followers, strict=True)
    ]


def _rules_met(
    cue: Cue, following: Cue | None, *, rules: LanguageRules, fps: float
) -> dict[str, bool]:
    duration_ms = _ms(cue.end_s) - _ms(cue.start_s)
    min_gap_ms = MIN_GAP_FRAMES * 1000 / fps - _HALF_MS
    return {
        "max_chars_per_line": all(
            line_length(line) <= rules.max_chars_per_line for line in cue.lines
        ),
        "max_lines": 1 <= len(cue.lines) <= MAX_LINES,
        "min_duration": duration_ms >= MIN_DURATION_S * 1000 - _HALF_MS,
        "max_duration": duration_ms <= MAX_DURATION_S * 1000 + _HALF_MS,
        "reading_speed": duration_ms > 0
        and cue_reading_length(tuple(cue.lines), rules=rules) / (duration_ms / 1000)
        <= rules.max_chars_per_s + 1e-9,
        # The last cue has nothing to keep its distance from.
        "min_gap": following is None or _ms(following.start_s) - _ms(cue.end_s) >= min_gap_ms,
    }


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
