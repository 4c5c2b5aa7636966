"""Spans of the source's timeline, in seconds from its start."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A half-open stretch of the timeline, [start_s, end_s)."""

    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise ValueError(f"span ends before it starts: {self.start_s} > {self.end_s}")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def overlap_s(self, other: Span) -> float:
        return max(0.0, min(self.end_s, other.end_s) - max(self.start_s, other.start_s))

    def clipped(self, bounds: Span) -> Span | None:
        """The part of this span inside `bounds`, or None if they do not meet."""
        start, end = max(self.start_s, bounds.start_s), min(self.end_s, bounds.end_s)
        return Span(start, end) if end > start else None


def total_duration_s(spans: Iterable[Span]) -> float:
    return sum(span.duration_s for span in spans)


def spans_within(spans: Sequence[Span], bounds: Span) -> list[Span]:
    """The parts of sorted `spans` that fall inside `bounds`."""
    inside = (span.clipped(bounds) for span in spans)
    return [span for span in inside if span is not None]
