"""Dub placement: at the anchor, sped up just enough to fit, or pushed back."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.dub import DubRequest, Placement, place_dubs


def _by_index(placements: list[Placement]) -> dict[int, Placement]:
    return {placement.index: placement for placement in placements}


def test_dubs_that_fit_play_at_their_anchor_untouched() -> None:
    requests = [DubRequest(0, anchor_s=1.0, duration_s=3.0), DubRequest(1, 10.0, 2.0)]

    placements = place_dubs(requests, timeline_end_s=20.0)

    assert placements == [
        Placement(0, start_s=1.0, end_s=4.0, speed=1.0, natural_duration_s=3.0, delay_s=0.0),
        Placement(1, start_s=10.0, end_s=12.0, speed=1.0, natural_duration_s=2.0, delay_s=0.0),
    ]


def test_dub_needing_1_2x_is_sped_up_exactly_to_the_next_anchor() -> None:
    requests = [DubRequest(0, 0.0, 6.0), DubRequest(1, 5.0, 1.0)]

    first, second = place_dubs(requests, timeline_end_s=10.0)

    assert first.speed == pytest.approx(1.2)
    assert (first.start_s, first.end_s) == (0.0, 5.0)
    assert (second.start_s, second.delay_s, second.speed) == (5.0, 0.0, 1.0)


def test_dub_needing_2x_ends_late_at_max_speed_and_pushes_the_next() -> None:
    requests = [DubRequest(0, 0.0, 10.0), DubRequest(1, 5.0, 2.0)]

    first, second = place_dubs(requests, timeline_end_s=20.0, max_speed=1.25)

    assert first.speed == 1.25
    assert first.end_s == pytest.approx(8.0)
    assert second.start_s == first.end_s
    assert second.delay_s == pytest.approx(3.0)
    assert second.end_s == pytest.approx(10.0)
    assert second.speed == 1.0


def test_pushed_dub_is_sped_up_for_the_time_actually_left() -> None:
    # Dub 1 is pushed from 5 s to 8 s; only 1 s remains before dub 2's anchor at 9 s.
    requests = [DubRequest(0, 0.0, 10.0), DubRequest(1, 5.0, 1.2), DubRequest(2, 9.0, 1.0)]

    placements = _by_index(place_dubs(requests, timeline_end_s=20.0))

    assert placements[1].start_s == pytest.approx(8.0)
    assert placements[1].speed == pytest.approx(1.2)
    assert placements[1].end_s == 9.0
    assert placements[2].start_s == 9.0
    assert placements[2].delay_s == 0.0


def test_last_dub_overflowing_the_timeline_runs_late_at_max_speed() -> None:
    (last,) = place_dubs([DubRequest(0, 8.0, 5.0)], timeline_end_s=10.0)

    assert last.speed == 1.25
    assert last.end_s == pytest.approx(12.0)


def test_last_dub_is_sped_up_to_end_with_the_timeline() -> None:
    (last,) = place_dubs([DubRequest(0, 8.0, 2.4)], timeline_end_s=10.0)

    assert last.speed == pytest.approx(1.2)
    assert last.end_s == 10.0


def test_empty_dub_keeps_its_slot_with_zero_length_and_pushes_nothing() -> None:
    requests = [DubRequest(0, 1.0, 0.0), DubRequest(1, 1.0, 2.0)]

    empty, spoken = place_dubs(requests, timeline_end_s=5.0)

    assert (empty.start_s, empty.end_s, empty.speed) == (1.0, 1.0, 1.0)
    assert (spoken.start_s, spoken.end_s, spoken.speed) == (1.0, 3.0, 1.0)


def test_requests_are_placed_in_anchor_order_whatever_order_they_arrive_in() -> None:
    requests = [DubRequest(2, 9.0, 1.0), DubRequest(0, 0.0, 10.0), DubRequest(1, 5.0, 1.2)]

    placements = place_dubs(requests, timeline_end_s=20.0)

    assert [placement.index for placement in placements] == [0, 1, 2]
    assert placements == place_dubs(sorted(requests, key=lambda r: r.anchor_s), timeline_end_s=20)


def test_no_requests_means_no_placements() -> None:
    assert place_dubs([], timeline_end_s=10.0) == []


@pytest.mark.parametrize("max_speed", [0.9, 1.51, 2.0, math.nan])
def test_max_speed_outside_1_to_1_5_is_refused(max_speed: float) -> None:
    with pytest.raises(ValueError, match="max_speed"):
        place_dubs([DubRequest(0, 0.0, 1.0)], timeline_end_s=5.0, max_speed=max_speed)


@pytest.mark.parametrize(
    "request_",
    [DubRequest(0, -1.0, 1.0), DubRequest(0, 0.0, -1.0), DubRequest(0, math.inf, 1.0)],
)
def test_negative_or_infinite_times_are_refused(request_: DubRequest) -> None:
    with pytest.raises(ValueError, match="dub 0"):
        place_dubs([request_], timeline_end_s=5.0)


# -- properties ---------------------------------------------------------------------------

_times = st.floats(min_value=0.0, max_value=60.0, allow_nan=False, allow_infinity=False)
# Whole seconds make equal anchors and exact fits likely, which is where ties hide.
_whole_seconds = st.integers(min_value=0, max_value=10).map(float)
_gaps = st.one_of(_times, _whole_seconds)
# Real dubs last whole samples (1/24000 s) or nothing at all.
_durations = st.one_of(_times.filter(lambda s: s == 0.0 or s >= 1e-3), _whole_seconds)


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[list[DubRequest], float, float]:
    gaps = draw(st.lists(_gaps, min_size=0, max_size=12))
    anchors = [sum(gaps[: position + 1]) for position in range(len(gaps))]
    requests = [
        DubRequest(index, anchor_s=anchor, duration_s=draw(_durations))
        for index, anchor in enumerate(anchors)
    ]
    timeline_end_s = (anchors[-1] if anchors else 0.0) + draw(_gaps)
    max_speed = draw(st.floats(min_value=1.0, max_value=1.5))
    return requests, timeline_end_s, max_speed


@given(_scenarios())
def test_placements_never_overlap_and_respect_anchors_and_speed_bounds(
    scenario: tuple[list[DubRequest], float, float],
) -> None:
    requests, timeline_end_s, max_speed = scenario

    placements = place_dubs(requests, timeline_end_s=timeline_end_s, max_speed=max_speed)

    assert [p.index for p in placements] == [r.index for r in requests]
    for request, placement in zip(requests, placements, strict=True):
        assert 1.0 <= placement.speed <= max_speed
        assert placement.start_s >= request.anchor_s
        assert placement.delay_s == placement.start_s - request.anchor_s
        assert placement.natural_duration_s == request.duration_s
        expected_length_s = request.duration_s / placement.speed
        assert placement.end_s - placement.start_s == pytest.approx(expected_length_s, abs=1e-9)
    for earlier, later in itertools.pairwise(placements):
        assert earlier.end_s <= later.start_s


@given(_scenarios())
def test_a_dub_is_pushed_only_when_the_one_before_could_not_fit_at_max_speed(
    scenario: tuple[list[DubRequest], float, float],
) -> None:
    requests, timeline_end_s, max_speed = scenario

    placements = place_dubs(requests, timeline_end_s=timeline_end_s, max_speed=max_speed)

    for position, placement in enumerate(placements):
        if placement.start_s == requests[position].anchor_s:
            continue
        # Empty dubs take no time and only pass a push along, so the dub that pushed is
        # the last earlier one with audio; it must have overrun its own slot at max speed.
        pusher = max(j for j in range(position) if requests[j].duration_s > 0.0)
        its_limit_s = requests[pusher + 1].anchor_s
        assert placements[pusher].speed == max_speed
        assert requests[pusher].duration_s / max_speed > its_limit_s - placements[pusher].start_s
        assert placement.start_s == placements[pusher].end_s


@given(_scenarios())
def test_dubs_that_fit_are_placed_at_anchor_and_sped_up_no_more_than_needed(
    scenario: tuple[list[DubRequest], float, float],
) -> None:
    requests, timeline_end_s, max_speed = scenario

    placements = place_dubs(requests, timeline_end_s=timeline_end_s, max_speed=max_speed)

    previous_end_s = -math.inf
    for position, placement in enumerate(placements):
        request = requests[position]
        limit_s = (
            requests[position + 1].anchor_s if position + 1 < len(requests) else timeline_end_s
        )
        if previous_end_s <= request.anchor_s:
            assert placement.start_s == request.anchor_s
        available_s = limit_s - placement.start_s
        if request.duration_s == 0.0 or placement.start_s + request.duration_s <= limit_s:
            assert placement.speed == 1.0
        elif request.duration_s / max_speed <= available_s:
            # Sped up just enough: it ends exactly where the next dub may begin.
            assert placement.end_s == limit_s
            assert placement.speed == pytest.approx(request.duration_s / available_s, rel=1e-9)
        else:
            assert placement.speed == max_speed
        previous_end_s = placement.end_s
