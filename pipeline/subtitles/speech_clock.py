"""The clock that ties a chunk's text to its speech: character offsets to timeline seconds.

The chunk's characters are spread evenly over its speech time (its speech regions laid end to
end), so each sentence, and each cue within it, gets a slice of speech in proportion to its
share of the characters. Silence between regions takes no characters.

Speakers pause between sentences and clauses, so a pause that falls close to the end of one is
taken to be that end: the clock is pinned there, and the characters on each side are spread
evenly over the speech on each side. Without this, proportional timing lets the first words of
a sentence show before the pause that precedes them.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise

from ltb.timeline import Span

# A phrase end this close to a pause (as a share of the shorter phrase beside it, or in
# seconds of speech) is pinned to the pause.
_PIN_SHARE = 0.5
_PIN_S = 0.4


@dataclass(frozen=True, slots=True)
class Silence:
    """A pause between two speech regions, at a character offset of the chunk's text."""

    offset: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class SpeechClock:
    """Maps character offsets of one chunk's text to seconds on the source timeline."""

    regions: tuple[Span, ...]
    # Speech time elapsed at the start of each region, and at the end of the last.
    elapsed_s: tuple[float, ...]
    # (character offset, speech seconds) pairs, increasing in both, from (0, 0) to the ends.
    anchors: tuple[tuple[float, float], ...]

    @classmethod
    def over(cls, regions: Sequence[Span], *, phrase_ends: Sequence[float]) -> SpeechClock:
        """A clock for text whose sentences and clauses end at `phrase_ends` (the last is the total)."""
        if not regions or not phrase_ends:
            raise ValueError("a speech clock needs at least one region and one phrase")
        elapsed = tuple(accumulate((region.duration_s for region in regions), initial=0.0))
        anchors = _pinned_anchors(elapsed, phrase_ends)
        return cls(regions=tuple(regions), elapsed_s=elapsed, anchors=anchors)

    def time_at(self, offset: float, *, opening: bool) -> float:
        """Timeline seconds at an offset; at a region boundary, the next region's start if `opening`."""
        speech_s = _interpolate(self.anchors, offset)
        last = len(self.regions) - 1
        if opening:
            index = min(bisect_right(self.elapsed_s, speech_s) - 1, last)
        else:
            index = min(max(bisect_left(self.elapsed_s, speech_s) - 1, 0), last)
        region = self.regions[index]
        return min(region.start_s + speech_s - self.elapsed_s[index], region.end_s)

    def silences_between(self, start: float, end: float) -> list[Silence]:
        """The pauses that fall strictly inside the offsets (start, end)."""
        flipped = tuple((speech_s, offset) for offset, speech_s in self.anchors)
        silences: list[Silence] = []
        for index in range(1, len(self.regions)):
            offset = _interpolate(flipped, self.elapsed_s[index])
            if start < offset < end:
                gap_s = self.regions[index].start_s - self.regions[index - 1].end_s
                silences.append(Silence(offset=offset, duration_s=gap_s))
        return silences


def speech_regions_for(
    speech_regions: Sequence[Span], fallback: Span, *, timeline_end_s: float
) -> tuple[Span, ...]:
    """Usable regions inside [0, timeline_end_s]: sorted and merged, else the fallback span."""
    bounds = Span(0.0, timeline_end_s)
    usable = sorted(
        clipped
        for region in speech_regions
        if math.isfinite(region.start_s) and math.isfinite(region.end_s)
        for clipped in [region.clipped(bounds)]
        if clipped is not None
    )
    merged: list[Span] = []
    for region in usable:
        if merged and region.start_s <= merged[-1].end_s:
            merged[-1] = Span(merged[-1].start_s, max(merged[-1].end_s, region.end_s))
        else:
            merged.append(region)
    if merged:
        return tuple(merged)
    return (_clamped_fallback(fallback, timeline_end_s=timeline_end_s),)


def _pinned_anchors(
    elapsed_s: tuple[float, ...], phrase_ends: Sequence[float]
) -> tuple[tuple[float, float], ...]:
    total_chars, speech_s = phrase_ends[-1], elapsed_s[-1]
    anchors = [(0.0, 0.0)]
    if total_chars > 0 and speech_s > 0:
        seconds_per_char = speech_s / total_chars
        bounds = [0.0, *phrase_ends]
        for pause_s in elapsed_s[1:-1]:
            proportional = pause_s / seconds_per_char
            best: tuple[float, float] | None = None
            for index in range(1, len(bounds) - 1):
                end = bounds[index]
                shorter = min(end - bounds[index - 1], bounds[index + 1] - end)
                distance = abs(end - proportional)
                near = distance <= _PIN_SHARE * shorter or distance * seconds_per_char <= _PIN_S
                later = end > anchors[-1][0] and pause_s > anchors[-1][1]
                if near and later and (best is None or distance < best[0]):
                    best = (distance, end)
            if best is not None:
                anchors.append((best[1], pause_s))
    anchors.append((max(total_chars, anchors[-1][0]), max(speech_s, anchors[-1][1])))
    return tuple(anchors)


def _interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear y at x over points increasing in x (flat where x does not move)."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in pairwise(points):
        if x <= x1:
            return y0 if x1 <= x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _clamped_fallback(fallback: Span, *, timeline_end_s: float) -> Span:
    # A chunk with no detected speech still shows its text over its own bounds; bounds that are
    # unusable collapse to a point the timing step can grow a cue from.
    start, end = fallback.start_s, fallback.end_s
    if not (math.isfinite(start) and math.isfinite(end)):
        return Span(0.0, 0.0)
    start = min(max(start, 0.0), timeline_end_s)
    end = min(max(end, start), timeline_end_s)
    return Span(start, end)
