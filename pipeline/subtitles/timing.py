"""Cue times from speech times: the timing rules of docs/architecture.md ("Outputs"), applied in whole milliseconds.

Working in the milliseconds SRT is written in means what is checked here is what is written.
Order of the passes, and why:
1. each cue starts with its speech and ends with it (at most 7 s); where cues touch, the
   earlier one ends 2 frames sooner, so the later one still starts with its speech;
2. a cue short of its minimum duration or of reading time grows: its end first (up to 0.5 s
   past its speech for reading; as far as needed for the minimum), then its start, by at most
   2 frames; never into the next cue's 2-frame gap or past the timeline;
3. a cue still under the minimum duration borrows time from a touching neighbour that has
   more than it needs for both its own minimum and its reading time;
4. chaining: a gap of 0.5 s or less to the next cue closes to exactly 2 frames;
5. a final sweep that guarantees valid output (sorted, non-overlapping, inside the timeline,
   every cue at least 1 ms) even for input where the rules above cannot all hold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from pipeline.subtitles.cues import Cue
from pipeline.subtitles.line_breaks import forced_lines
from pipeline.subtitles.rules import LanguageRules, TimingLimits, cue_reading_length
from pipeline.subtitles.segmentation import CueDraft
from pipeline.subtitles.tokens import tokenize


@dataclass(slots=True)
class _Slot:
    lines: tuple[str, ...]
    speech_start_ms: int
    speech_end_ms: int
    reading_ms: int
    start_ms: int
    end_ms: int


def place_cues(
    drafts: Sequence[CueDraft],
    *,
    rules: LanguageRules,
    limits: TimingLimits,
    timeline_end_ms: int,
) -> list[Cue]:
    """Times drafts into valid cues inside [0, timeline_end_ms]."""
    if timeline_end_ms <= 0 or not drafts:
        return []
    slots = _initial_slots(drafts, rules=rules, limits=limits, timeline_end_ms=timeline_end_ms)
    _open_gaps(slots, limits=limits)
    _grow_short_cues(slots, limits=limits, timeline_end_ms=timeline_end_ms)
    _borrow_for_min_duration(slots, limits=limits)
    _chain(slots, limits=limits)
    slots = _fit_into_timeline(slots, rules=rules, limits=limits, timeline_end_ms=timeline_end_ms)
    return [Cue(slot.start_ms / 1000, slot.end_ms / 1000, slot.lines) for slot in slots]


def _initial_slots(
    drafts: Sequence[CueDraft],
    *,
    rules: LanguageRules,
    limits: TimingLimits,
    timeline_end_ms: int,
) -> list[_Slot]:
    slots: list[_Slot] = []
    for draft in sorted(drafts, key=lambda draft: (draft.speech_start_s, draft.speech_end_s)):
        start = _clamp_ms(draft.speech_start_s, timeline_end_ms)
        end = max(_clamp_ms(draft.speech_end_s, timeline_end_ms), start)
        reading_s = cue_reading_length(draft.lines, rules=rules) / rules.max_chars_per_s
        slots.append(
            _Slot(
                lines=draft.lines,
                speech_start_ms=start,
                speech_end_ms=end,
                reading_ms=math.ceil(reading_s * 1000 - 1e-6),
                start_ms=start,
                end_ms=min(end, start + limits.max_duration_ms),
            )
        )
    return slots


def _grow_short_cues(slots: list[_Slot], *, limits: TimingLimits, timeline_end_ms: int) -> None:
    for index, slot in enumerate(slots):
        wanted_ms = min(limits.max_duration_ms, max(limits.min_duration_ms, slot.reading_ms))
        if slot.end_ms - slot.start_ms >= wanted_ms:
            continue
        room_end = (
            slots[index + 1].start_ms - limits.min_gap_ms
            if index + 1 < len(slots)
            else timeline_end_ms
        )
        room_end = min(room_end, timeline_end_ms, slot.start_ms + limits.max_duration_ms)
        target_end = max(
            min(slot.start_ms + slot.reading_ms, slot.speech_end_ms + limits.linger_ms),
            slot.start_ms + limits.min_duration_ms,
        )
        target_end = min(target_end, slot.start_ms + wanted_ms)
        if room_end > slot.end_ms:
            slot.end_ms = max(slot.end_ms, min(target_end, room_end))
        if slot.end_ms - slot.start_ms < wanted_ms:
            previous_end = slots[index - 1].end_ms + limits.min_gap_ms if index else 0
            floor_ms = max(0, slot.speech_start_ms - limits.lead_in_ms, previous_end)
            slot.start_ms = min(slot.start_ms, max(floor_ms, slot.end_ms - wanted_ms))


def _open_gaps(slots: list[_Slot], *, limits: TimingLimits) -> None:
    for slot, following in pairwise(slots):
        gap_end = following.start_ms - limits.min_gap_ms
        if slot.end_ms > gap_end > slot.start_ms:
            slot.end_ms = gap_end


def _borrow_for_min_duration(slots: list[_Slot], *, limits: TimingLimits) -> None:
    for index, slot in enumerate(slots):
        if index + 1 < len(slots):
            following = slots[index + 1]
            shift = min(_deficit_ms(slot, limits), _spare_ms(following, limits))
            if shift > 0 and following.start_ms - slot.end_ms <= limits.min_gap_ms:
                slot.end_ms += shift
                following.start_ms += shift
        if index > 0:
            previous = slots[index - 1]
            shift = min(_deficit_ms(slot, limits), _spare_ms(previous, limits))
            if shift > 0 and slot.start_ms - previous.end_ms <= limits.min_gap_ms:
                slot.start_ms -= shift
                previous.end_ms -= shift


def _deficit_ms(slot: _Slot, limits: TimingLimits) -> int:
    return max(0, limits.min_duration_ms - (slot.end_ms - slot.start_ms))


def _spare_ms(slot: _Slot, limits: TimingLimits) -> int:
    # Lending never creates a new violation: the lender keeps its minimum and its reading time.
    needed_ms = max(limits.min_duration_ms, min(slot.reading_ms, limits.max_duration_ms))
    return max(0, slot.end_ms - slot.start_ms - needed_ms)


def _chain(slots: list[_Slot], *, limits: TimingLimits) -> None:
    for slot, following in pairwise(slots):
        gap_ms = following.start_ms - slot.end_ms
        chained_end = following.start_ms - limits.min_gap_ms
        if limits.min_gap_ms < gap_ms <= limits.chain_gap_ms and (
            chained_end - slot.start_ms <= limits.max_duration_ms
        ):
            slot.end_ms = chained_end


def _fit_into_timeline(
    slots: list[_Slot], *, rules: LanguageRules, limits: TimingLimits, timeline_end_ms: int
) -> list[_Slot]:
    """Guarantees order, at least 1 ms per cue, no overlap, and [0, timeline_end_ms]."""
    if len(slots) > timeline_end_ms:
        slots = _merge_to_count(slots, count=timeline_end_ms, rules=rules)
    count = len(slots)
    # Only when the timeline cannot hold every cue 2 frames apart does the gap shrink.
    gap_ms = limits.min_gap_ms
    if count > 1:
        gap_ms = min(gap_ms, (timeline_end_ms - count) // (count - 1))
    previous_end = -gap_ms
    for slot in slots:
        slot.start_ms = min(max(slot.start_ms, 0, previous_end + gap_ms), timeline_end_ms)
        slot.end_ms = max(slot.end_ms, slot.start_ms + 1)
        previous_end = slot.end_ms
    next_start = timeline_end_ms + gap_ms
    for slot in reversed(slots):
        slot.end_ms = min(slot.end_ms, next_start - gap_ms)
        slot.start_ms = min(slot.start_ms, slot.end_ms - 1)
        next_start = slot.start_ms
    return slots


def _merge_to_count(slots: list[_Slot], *, count: int, rules: LanguageRules) -> list[_Slot]:
    # More cues than milliseconds: nothing readable is possible, so keep every word at least.
    size = math.ceil(len(slots) / count)
    merged: list[_Slot] = []
    for first in range(0, len(slots), size):
        group = slots[first : first + size]
        text = " ".join(line for slot in group for line in slot.lines)
        lines = forced_lines(tokenize(text, rules=rules)) if len(group) > 1 else group[0].lines
        merged.append(
            _Slot(
                lines=lines,
                speech_start_ms=group[0].speech_start_ms,
                speech_end_ms=group[-1].speech_end_ms,
                reading_ms=sum(slot.reading_ms for slot in group),
                start_ms=group[0].start_ms,
                end_ms=group[-1].end_ms,
            )
        )
    return merged


def _clamp_ms(seconds: float, timeline_end_ms: int) -> int:
    return min(max(round(seconds * 1000), 0), timeline_end_ms)
