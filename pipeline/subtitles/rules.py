"""The subtitle rules of docs/architecture.md ("Outputs" → "SRT"), and how text is counted against them.

Figures per language come from the Netflix Timed Text Style Guide. Line length is counted in
code points, so combining marks (Thai vowels and tone marks, Devanagari matras) count as
characters: stricter than a glyph count, and what any plain `len()` check downstream sees.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

MAX_LINES = 2
MIN_DURATION_S = 5 / 6
MAX_DURATION_S = 7.0
MIN_GAP_FRAMES = 2
LEAD_IN_FRAMES = 2
# A gap this short reads as flicker, so the earlier cue is held until 2 frames before the next.
CHAIN_GAP_S = 0.5
# How long a cue may stay after its speech ends when the reader needs the time.
LINGER_S = 0.5

# zh, yue and ja write words without spaces: lines break between characters.
UNSPACED_LANGS = frozenset({"zh", "yue", "ja"})
# Thai writes no sentence punctuation; its spaces separate phrases, not words.
PHRASE_SPACED_LANGS = frozenset({"th"})
# Scripts laid out on a full-width grid, where a half-width character takes half a cell.
CJK_COUNTING_LANGS = frozenset({"zh", "yue", "ja", "ko"})

_LIMITS: dict[str, tuple[int, float]] = {
    "en": (42, 20.0),
    "ar": (42, 20.0),
    "fr": (42, 17.0),
    "de": (42, 17.0),
    "pt": (42, 17.0),
    "es": (42, 17.0),
    "it": (42, 17.0),
    "id": (42, 17.0),
    "vi": (42, 17.0),
    "tr": (42, 17.0),
    "el": (42, 17.0),
    "ru": (39, 17.0),
    "hi": (42, 22.0),
    "th": (35, 17.0),
    "zh": (16, 9.0),
    "yue": (16, 9.0),
    "ko": (16, 12.0),
    "ja": (13, 4.0),
}

# Invisible letters and selectors that are not whitespace to Python but show nothing on screen.
_INVISIBLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u3164\uffa0"
    + "".join(chr(code) for code in range(0xFE00, 0xFE10))
)
_BLANK_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs"})


@dataclass(frozen=True, slots=True)
class LanguageRules:
    """The limits one target language's cues are held to."""

    lang: str
    max_chars_per_line: int
    max_chars_per_s: float
    unspaced: bool
    spaces_separate_phrases: bool
    cjk_counting: bool

    @property
    def max_chars_per_cue(self) -> int:
        return self.max_chars_per_line * MAX_LINES


@dataclass(frozen=True, slots=True)
class TimingLimits:
    """The timing rules in whole milliseconds, the resolution SRT and VTT are written at."""

    min_duration_ms: int
    max_duration_ms: int
    min_gap_ms: int
    lead_in_ms: int
    chain_gap_ms: int
    linger_ms: int

    @classmethod
    def at(cls, fps: float) -> TimingLimits:
        """Limits at a frame rate: minimums round up, allowances down, so none is breached."""
        if not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"frame rate must be a positive number, got {fps!r}")
        return cls(
            min_duration_ms=math.ceil(MIN_DURATION_S * 1000 - 1e-6),
            max_duration_ms=math.floor(MAX_DURATION_S * 1000 + 1e-6),
            min_gap_ms=math.ceil(MIN_GAP_FRAMES * 1000 / fps - 1e-6),
            lead_in_ms=math.floor(LEAD_IN_FRAMES * 1000 / fps + 1e-6),
            chain_gap_ms=math.floor(CHAIN_GAP_S * 1000 + 1e-6),
            linger_ms=math.floor(LINGER_S * 1000 + 1e-6),
        )


def rules_for(lang: str) -> LanguageRules:
    """Returns the limits for a target language code; unknown codes are a caller's bug."""
    try:
        max_chars_per_line, max_chars_per_s = _LIMITS[lang]
    except KeyError:
        known = " ".join(_LIMITS)
        raise ValueError(f"no subtitle rules for language {lang!r}; known: {known}") from None
    return LanguageRules(
        lang=lang,
        max_chars_per_line=max_chars_per_line,
        max_chars_per_s=max_chars_per_s,
        unspaced=lang in UNSPACED_LANGS,
        spaces_separate_phrases=lang in PHRASE_SPACED_LANGS,
        cjk_counting=lang in CJK_COUNTING_LANGS,
    )


def line_length(text: str) -> int:
    """Characters on a line as the per-line limit counts them."""
    return len(text)


def reading_length(text: str, *, rules: LanguageRules) -> float:
    """Characters as reading speed counts them: spaces and punctuation too; CJK half-width 0.5."""
    if not rules.cjk_counting:
        return float(len(text))
    return sum(0.5 if _is_half_width(char) else 1.0 for char in text)


def cue_reading_length(lines: tuple[str, ...], *, rules: LanguageRules) -> float:
    """A cue's reading length; the line break itself is not read."""
    return sum(reading_length(line, rules=rules) for line in lines)


def is_blank(text: str) -> bool:
    """True when nothing in `text` would show on screen."""
    return all(
        char.isspace() or char in _INVISIBLE or unicodedata.category(char) in _BLANK_CATEGORIES
        for char in text
    )


def _is_half_width(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("Na", "H")
