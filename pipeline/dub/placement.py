"""Where each chunk's dub sits on the source timeline, and how fast it plays (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The output rules (docs/architecture.md "Outputs") cap the pitch-preserving speed-up at 1.5x; beyond that speech turns unnatural.
MAX_SPEED_CEILING = 1.5
DEFAULT_MAX_SPEED = 1.25


@dataclass(frozen=True, slots=True)
class DubRequest:
    """One chunk's dub as the provider returned it, before placement."""

    index: int
    anchor_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one dub plays on the timeline and at what speed."""

    index: int
    start_s: float
    end_s: float
    speed: float
    natural_duration_s: float
    delay_s: float


def place_dubs(
    requests: Sequence[DubRequest], *, timeline_end_s: float, max_speed: float = DEFAULT_MAX_SPEED
) -> list[Placement]:
    """Place dubs in anchor order: at the anchor, sped up to fit, or pushed back."""
    _check_inputs(requests, timeline_end_s=timeline_end_s, max_speed=max_speed)
    ordered = sorted(requests, key=lambda request: (request.anchor_s, request.index))
    placements: list[Placement] = []
    previous_end_s = -math.inf
    for position, request in enumerate(ordered):
        # A dub must be done by the next dub's anchor; the last one by the timeline end.
        limit_s = ordered[position + 1].anchor_s if position + 1 < len(ordered) else timeline_end_s
        start_s = max(request.anchor_s, previous_end_s)
        placement = _place_one(request, start_s=start_s, limit_s=limit_s, max_speed=max_speed)
        placements.append(placement)
        previous_end_s = placement.end_s
    return placements


def _place_one(
    request: DubRequest, *, start_s: float, limit_s: float, max_speed: float
) -> Placement:
    natural_s = request.duration_s
    if natural_s == 0.0:
        # Empty dubs keep their slot (the manifest lists every chunk) but take no time.
        speed, end_s = 1.0, start_s
    elif start_s + natural_s <= limit_s:
        speed, end_s = 1.0, start_s + natural_s
    else:
        available_s = limit_s - start_s
        needed_speed = natural_s / available_s if available_s > 0.0 else math.inf
        if needed_speed <= max_speed:
            # Pin the end to the limit: start + natural/speed may land one ulp past it,
            # which would read as an overlap and push the next dub for nothing.
            speed, end_s = max(1.0, needed_speed), limit_s
        else:
            speed, end_s = max_speed, start_s + natural_s / max_speed
    return Placement(
        index=request.index,
        start_s=start_s,
        end_s=end_s,
        speed=speed,
        natural_duration_s=natural_s,
        delay_s=start_s - request.anchor_s,
    )


def _check_inputs(
    requests: Sequence[DubRequest], *, timeline_end_s: float, max_speed: float
) -> None:
    if not 1.0 <= max_speed <= MAX_SPEED_CEILING:
        raise ValueError(f"max_speed must be within 1.0–{MAX_SPEED_CEILING}, got {max_speed}")
    if not (math.isfinite(timeline_end_s) and timeline_end_s >= 0.0):
        raise ValueError(f"timeline_end_s must be a finite non-negative time, got {timeline_end_s}")
    for request in requests:
        if not (math.isfinite(request.anchor_s) and request.anchor_s >= 0.0):
            raise ValueError(f"dub {request.index}: anchor_s must be >= 0, got {request.anchor_s}")
        if not (math.isfinite(request.duration_s) and request.duration_s >= 0.0):
            raise ValueError(
                f"dub {request.index}: duration_s must be >= 0, got {request.duration_s}"
            )
