"""Placing realtime answers on the source's timeline.

No server event says where an utterance was. The server cuts utterances with a VAD much
like our speech map's, so a session's answers normally match the segment's speech
regions one for one, in order. When the counts differ (the server joined two regions, or
split one), each answer gets the stretch of speech its share of the segment's words
says, snapped to region starts where there are enough regions to snap to.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ltb.timeline import Span


@dataclass(frozen=True, slots=True)
class Placed:
    """The speech regions one answer translates (timeline seconds, sorted)."""

    speech: tuple[Span, ...]

    @property
    def span(self) -> Span:
        return Span(self.speech[0].start_s, self.speech[-1].end_s)


def place_answers(weights: Sequence[float], regions: Sequence[Span]) -> list[Placed]:
    """The regions of each answer, given each answer's weight (how much it says: the
    length of its transcript, say) and the segment's speech regions."""
    if not weights:
        return []
    if not regions:
        raise ValueError("answers came back for a segment with no speech")
    if len(weights) == len(regions):
        return [Placed((region,)) for region in regions]
    positions = _speech_positions(weights, regions)
    if len(weights) < len(regions):
        starts = _snap(positions, regions)
        bounds = [*starts, len(regions)]
        return [Placed(tuple(regions[a:b])) for a, b in itertools.pairwise(bounds)]
    return _split(positions, regions)


def _speech_positions(weights: Sequence[float], regions: Sequence[Span]) -> list[float]:
    """Where each answer starts, in seconds of speech since the segment's first word."""
    clean = [max(weight, 1e-3) for weight in weights]
    total_speech = sum(region.duration_s for region in regions)
    total_weight = sum(clean)
    positions, before = [], 0.0
    for weight in clean:
        positions.append(total_speech * before / total_weight)
        before += weight
    return positions


def _region_starts(regions: Sequence[Span]) -> list[float]:
    starts, before = [], 0.0
    for region in regions:
        starts.append(before)
        before += region.duration_s
    return starts


def _snap(positions: Sequence[float], regions: Sequence[Span]) -> list[int]:
    """Increasing region indices, the first 0, whose speech starts lie nearest the
    positions (a small dynamic programme: answers x regions)."""
    starts = _region_starts(regions)
    n, m = len(positions), len(regions)
    cost = [[math.inf] * m for _ in range(n)]
    back = [[0] * m for _ in range(n)]
    cost[0][0] = 0.0
    for i in range(1, n):
        for k in range(i, m - (n - 1 - i)):
            best, arg = math.inf, 0
            for j in range(i - 1, k):
                if cost[i - 1][j] < best:
                    best, arg = cost[i - 1][j], j
            cost[i][k] = best + abs(starts[k] - positions[i])
            back[i][k] = arg
    last = min(range(m), key=lambda k: cost[n - 1][k])
    chosen = [last]
    for i in range(n - 1, 0, -1):
        chosen.append(back[i][chosen[-1]])
    return list(reversed(chosen))


def _split(positions: Sequence[float], regions: Sequence[Span]) -> list[Placed]:
    """More answers than regions: each answer gets its share of the speech, wherever
    that falls."""
    total = sum(region.duration_s for region in regions)
    ends = [*positions[1:], total]
    return [
        Placed(_speech_between(regions, start, end) or (_at(regions, start),))
        for start, end in zip(positions, ends, strict=True)
    ]


def _speech_between(regions: Sequence[Span], start: float, end: float) -> tuple[Span, ...]:
    """The timeline spans of speech seconds [start, end)."""
    found, before = [], 0.0
    for region in regions:
        lo, hi = max(start, before), min(end, before + region.duration_s)
        if hi > lo:
            found.append(Span(region.start_s + lo - before, region.start_s + hi - before))
        before += region.duration_s
    return tuple(found)


def _at(regions: Sequence[Span], position: float) -> Span:
    before = 0.0
    for region in regions:
        if position < before + region.duration_s:
            t = region.start_s + position - before
            return Span(t, min(region.end_s, t + 0.5))
        before += region.duration_s
    last = regions[-1]
    return Span(max(last.start_s, last.end_s - 0.5), last.end_s)
