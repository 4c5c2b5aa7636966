"""assemble: subtitle cues for a whole job from its chunks' texts and the speech map."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipeline.subtitles.cues import Cue, TimedText
from pipeline.subtitles.rules import TimingLimits, rules_for
from pipeline.subtitles.segmentation import CueDraft, draft_chunk_cues
from pipeline.subtitles.speech_clock import speech_regions_for
from pipeline.subtitles.timing import place_cues


def build_cues(
    chunks: Sequence[TimedText], target_lang: str, *, timeline_end_s: float, fps: float = 24.0
) -> list[Cue]:
    """Sorted, non-overlapping cues for the chunks' texts, timed to their speech regions."""
    if not math.isfinite(timeline_end_s) or timeline_end_s < 0:
        raise ValueError(
            f"timeline_end_s must be a finite, non-negative number, got {timeline_end_s!r}"
        )
    rules = rules_for(target_lang)
    limits = TimingLimits.at(fps)
    drafts: list[CueDraft] = []
    for chunk in chunks:
        regions = speech_regions_for(
            chunk.speech_regions, chunk.fallback, timeline_end_s=timeline_end_s
        )
        drafts.extend(draft_chunk_cues(chunk.text, regions, rules=rules))
    return place_cues(
        drafts, rules=rules, limits=limits, timeline_end_ms=_whole_ms_within(timeline_end_s)
    )


def _whole_ms_within(seconds: float) -> int:
    """The last whole millisecond not past `seconds`, compared as the floats cues will hold."""
    ms = math.floor(seconds * 1000)
    while ms > 0 and ms / 1000 > seconds:
        ms -= 1
    while (ms + 1) / 1000 <= seconds:
        ms += 1
    return ms
