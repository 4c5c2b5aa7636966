"""Spilled segments come back exactly as they went in, neighbours' edges included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.dub.pcm import PlacedAudio
from pipeline.dub.segments import SpilledSegments
from pipeline.dub.true_peak import GUARD_SAMPLES, guard_context


def _layout() -> list[PlacedAudio]:
    # Touching segments, ones shorter than the guard (so a context spans several), an
    # empty one, and a gap: every way neighbours can reach into a segment's context.
    rng = np.random.default_rng(3)
    starts_and_sizes = [(0, 50), (50, 4), (54, 0), (54, 3), (60, 2), (62, 40), (200, 7), (207, 30)]
    return [
        PlacedAudio(start, rng.uniform(-1.0, 1.0, size).astype(np.float32))
        for start, size in starts_and_sizes
    ]


def test_segments_read_back_bit_exact_with_the_same_context(tmp_path: Path) -> None:
    segments = _layout()
    order = [3, 0, 7, 2, 5, 1, 6, 4]  # added out of timeline order, then put in order

    with SpilledSegments(directory=tmp_path) as spilled:
        for position in order:
            segment = segments[position]
            # In uneven pieces, as the stretch hands them over.
            pieces = np.split(segment.samples, [1, 2, 5]) if segment.samples.size > 5 else []
            spilled.add(start_sample=segment.start_sample, pieces=pieces or [segment.samples])
        spilled.reorder(sorted(range(len(order)), key=lambda added: order[added]))

        assert len(spilled) == len(segments)
        for index, segment in enumerate(segments):
            read = spilled.placed(index)
            assert spilled.bounds(index) == (segment.start_sample, segment.end_sample)
            assert read.start_sample == segment.start_sample
            assert np.array_equal(read.samples, segment.samples)
            before, after = spilled.context(index)
            expected_before, expected_after = guard_context(segments=segments, index=index)
            assert before.size == after.size == GUARD_SAMPLES
            assert np.array_equal(before, expected_before)
            assert np.array_equal(after, expected_after)
            gained = spilled.gained(index, np.float32(0.5))
            assert np.array_equal(gained.samples, segment.samples * np.float32(0.5))
        # The spill file has no name: nothing is left in the directory, open or closed.
        assert list(tmp_path.iterdir()) == []


def test_an_order_that_skips_or_repeats_a_segment_is_refused(tmp_path: Path) -> None:
    with SpilledSegments(directory=tmp_path) as spilled:
        for segment in _layout()[:3]:
            spilled.add(start_sample=segment.start_sample, pieces=[segment.samples])

        with pytest.raises(ValueError, match="exactly once"):
            spilled.reorder([0, 0, 1])
