"""The values the subtitle builder takes and gives."""

from __future__ import annotations

from dataclasses import dataclass

from ltb.timeline import Span


@dataclass(frozen=True, slots=True)
class TimedText:
    """One chunk's translated text and the speech regions it was spoken in (timeline seconds)."""

    text: str
    # Sorted and non-overlapping; when empty, the text is placed over `fallback`.
    speech_regions: tuple[Span, ...]
    # The chunk's own bounds.
    fallback: Span


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle: shown from start_s to end_s, 1 or 2 lines, none blank."""

    start_s: float
    end_s: float
    lines: tuple[str, ...]
