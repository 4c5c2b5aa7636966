"""Cutting a source into realtime sessions: at pauses, each no longer than the segment
length and each within the model's input limit counting its audio and its frames.

Pure: the speech map in, segments out. A segment covers its speech plus a little on
either side (the server's VAD needs a pause after the last word to close it); long
silences between segments are never streamed, so never billed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ltb import tokens
from ltb.timeline import Span

# Audio before the first word of a segment, so a soft onset is heard whole.
LEAD_IN_S = 0.3
# Audio after the last word: more than the 0.3 s pause the server's VAD waits for.
TAIL_S = 0.8


@dataclass(frozen=True, slots=True)
class FrameSize:
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class SegmentLimits:
    max_segment_s: float
    frame_fps: float = 0.0  # 0: no frames (visual context off)
    frame: FrameSize | None = None
    input_margin: float = 0.05

    @property
    def input_budget(self) -> int:
        return math.floor(tokens.MAX_INPUT_TOKENS * (1 - self.input_margin))

    def input_tokens(self, duration_s: float) -> int:
        if not self.frame or not self.frame_fps:
            return tokens.realtime_input_tokens(duration_s)
        return tokens.realtime_input_tokens(
            duration_s,
            frames=tokens.realtime_frames(duration_s, self.frame_fps),
            frame_width=self.frame.width,
            frame_height=self.frame.height,
        )

    @property
    def longest_s(self) -> float:
        """The longest session both the segment length and the input budget allow."""
        longest = self.max_segment_s
        while longest > 1.0 and self.input_tokens(longest) > self.input_budget:
            longest = math.floor(longest * 0.95 * 10) / 10
        return longest


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    span: Span  # what is streamed, timeline seconds
    speech: tuple[Span, ...]  # the speech map's regions inside it
    input_tokens: int  # expected: audio and frames
    frames: int
    cut_through_speech: bool = False


def plan_segments(
    regions: Sequence[Span], *, duration_s: float, limits: SegmentLimits, sessions: int = 1
) -> list[Segment]:
    """Groups the speech regions into sessions of about equal length, cut in pauses.

    The count is a multiple of `sessions` (sessions run at once): at pace 1.0 a session
    lasts as long as its audio, so 5 segments on 4 sessions take two rounds of 1/5 of the
    source each, where 8 take two rounds of 1/8."""
    longest_s = limits.longest_s
    pieces = _fit_regions(regions, longest_s - LEAD_IN_S - TAIL_S)
    if not pieces:
        return []
    extent_s = pieces[-1].end_s - pieces[0].start_s
    wanted = max(1, math.ceil(extent_s / max(1.0, longest_s - LEAD_IN_S - TAIL_S)))
    if wanted > 1:
        rounds = math.ceil(wanted / max(1, sessions))
        wanted = rounds * max(1, sessions)
    target_s = extent_s / wanted
    groups: list[list[Span]] = []
    start = 0
    while start < len(pieces):
        first_s = pieces[start].start_s
        end = start
        # Take regions while the group fits; stop at the end closest to the target length.
        best, best_miss = start, math.inf
        while end < len(pieces) and pieces[end].end_s - first_s <= longest_s - LEAD_IN_S - TAIL_S:
            miss = abs(pieces[end].end_s - first_s - target_s)
            if miss < best_miss:
                best, best_miss = end, miss
            end += 1
        groups.append(pieces[start : best + 1])
        start = best + 1
    segments = []
    cut = {piece for piece in pieces if piece not in regions}
    for index, group in enumerate(groups):
        start_s = group[0].start_s - LEAD_IN_S
        if index:
            start_s = max(start_s, _split_point(groups[index - 1][-1].end_s, group[0].start_s))
        end_s = group[-1].end_s + TAIL_S
        if index + 1 < len(groups):
            end_s = min(end_s, _split_point(group[-1].end_s, groups[index + 1][0].start_s))
        start_s, end_s = max(start_s, 0.0), min(end_s, duration_s)
        span = Span(start_s, max(end_s, group[-1].end_s))
        frames = tokens.realtime_frames(span.duration_s, limits.frame_fps) if limits.frame else 0
        segments.append(
            Segment(
                index=index,
                span=span,
                speech=tuple(group),
                input_tokens=limits.input_tokens(span.duration_s),
                frames=frames,
                cut_through_speech=any(piece in cut for piece in group),
            )
        )
    return segments


def _split_point(end_s: float, next_start_s: float) -> float:
    """Where a pause too short for both a tail and a lead-in is shared between the
    segments either side of it, in proportion, so no audio is streamed twice."""
    gap_s = next_start_s - end_s
    if gap_s >= LEAD_IN_S + TAIL_S:
        return end_s + TAIL_S
    return end_s + gap_s * TAIL_S / (LEAD_IN_S + TAIL_S)


def _fit_regions(regions: Sequence[Span], longest_s: float) -> list[Span]:
    """The regions, any longer than a whole session cut into equal pieces (speech with no
    pause for minutes: rare, and reported as cut through speech)."""
    pieces: list[Span] = []
    for region in regions:
        if region.duration_s <= longest_s:
            pieces.append(region)
            continue
        count = math.ceil(region.duration_s / longest_s)
        step = region.duration_s / count
        pieces.extend(
            Span(region.start_s + i * step, region.start_s + (i + 1) * step) for i in range(count)
        )
    return pieces
