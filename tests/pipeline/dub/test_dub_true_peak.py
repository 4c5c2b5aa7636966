"""True peak on the timeline: the streaming meter, neighbours' context, and the limiter."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from scipy.signal import resample_poly

from pipeline.dub import SAMPLE_RATE_HZ
from pipeline.dub.loudness import normalise_loudness
from pipeline.dub.pcm import PlacedAudio
from pipeline.dub.true_peak import (
    GUARD_SAMPLES,
    TruePeakMeter,
    guard_context,
    limit_true_peak,
    true_peak_envelope,
)

Signal = npt.NDArray[np.float32]
Meter = Callable[[npt.NDArray[np.floating]], float]


def _timeline(segments: list[PlacedAudio], total: int) -> Signal:
    timeline = np.zeros(total, dtype=np.float32)
    for segment in segments:
        timeline[segment.start_sample : segment.end_sample] = segment.samples
    return timeline


def _metered(segments: list[PlacedAudio], total: int, *, chunk: int) -> float | None:
    meter = TruePeakMeter()
    cursor = 0
    for segment in segments:
        meter.feed_silence(segment.start_sample - cursor)
        for start in range(0, segment.samples.size, chunk):
            meter.feed(segment.samples[start : start + chunk])
        cursor = segment.end_sample
    meter.feed_silence(total - cursor)
    return meter.peak_dbtp()


def _doublet_junction(level: float) -> tuple[PlacedAudio, PlacedAudio]:
    """Two touching segments whose joint true peak is 2.1 dB over either one's alone.

    The first ends on a lone sample and the second starts on one of the same sign. Each alone
    is an impulse peaking at `level`; joined, they make a doublet whose reconstruction peaks
    at 2 * sinc(0.5) = 1.27 times `level` half-way between them.
    """
    rng = np.random.default_rng(3)
    quiet = (0.01 * rng.standard_normal(SAMPLE_RATE_HZ)).astype(np.float32)
    first = np.concatenate([quiet, np.zeros(40, dtype=np.float32), [level]]).astype(np.float32)
    second = np.concatenate([[level], np.zeros(40, dtype=np.float32), quiet]).astype(np.float32)
    return PlacedAudio(1_000, first), PlacedAudio(1_000 + first.size, second)


@pytest.mark.parametrize("chunk", [1_000, 4_801, 1 << 16, 200_000])
def test_timeline_meter_matches_oversampling_the_whole_file(
    chunk: int, make_speech: Callable[..., Signal], true_peak_of: Meter
) -> None:
    # A segment at the very start, touching pairs, a gap shorter than the interpolator's
    # reach, a long gap, and a segment that ends the file.
    lengths = [30_000, 20_000, 7, 50_000, 90_000, 40_000]
    gaps = [0, 0, 0, 5, 300_000, 12_345]
    segments = []
    cursor = 0
    for n, (length, gap) in enumerate(zip(lengths, gaps, strict=True)):
        audio = make_speech(length / SAMPLE_RATE_HZ, peak=0.3 + 0.1 * n, seed=n)
        segments.append(PlacedAudio(cursor + gap, audio))
        cursor += gap + audio.size
    total = cursor

    measured = _metered(segments, total, chunk=chunk)

    assert measured == pytest.approx(true_peak_of(_timeline(segments, total)), abs=1e-4)


@pytest.mark.parametrize("position", [0, 3, 299_996, 299_999])
def test_timeline_meter_sees_a_peak_at_either_end_of_the_file(
    position: int, true_peak_of: Meter
) -> None:
    total = 300_000
    impulse = PlacedAudio(position, np.array([0.5], dtype=np.float32))

    measured = _metered([impulse], total, chunk=1 << 16)

    assert measured == pytest.approx(true_peak_of(_timeline([impulse], total)), abs=1e-4)


def test_timeline_meter_of_silence_has_no_peak() -> None:
    meter = TruePeakMeter()
    assert meter.peak_dbtp() is None
    meter.feed_silence(10_000)
    meter.feed(np.zeros(100, dtype=np.float32))
    assert meter.peak_dbtp() is None


def test_guard_context_is_the_timeline_just_around_a_segment() -> None:
    short = PlacedAudio(95, np.full(3, 0.1, dtype=np.float32))
    middle = PlacedAudio(100, np.full(50, 0.2, dtype=np.float32))
    touching = PlacedAudio(150, np.full(200, 0.3, dtype=np.float32))
    segments = [PlacedAudio(80, np.full(10, 0.05, dtype=np.float32)), short, middle, touching]

    before, after = guard_context(segments=segments, index=2)

    # 11 samples before sample 100: [89, 90) of the first, silence, then the short one.
    expected_before = np.zeros(GUARD_SAMPLES, dtype=np.float32)
    expected_before[:1] = 0.05
    expected_before[6:9] = 0.1
    assert np.array_equal(before, expected_before)
    assert np.array_equal(after, np.full(GUARD_SAMPLES, 0.3, dtype=np.float32))


def test_envelope_with_context_matches_oversampling_the_joined_segments() -> None:
    first, second = _doublet_junction(0.5)
    before, after = guard_context(segments=[first, second], index=1)

    envelope = true_peak_envelope(samples=second.samples, before=before, after=after)

    joined = np.concatenate([first.samples, second.samples]).astype(np.float64)
    intervals = np.abs(resample_poly(joined, 4, 1)).reshape(-1, 4).max(axis=1)
    # Sample n's envelope covers [n-1, n+1): for the first sample, that reaches back into the
    # junction, where the doublet peaks.
    start = first.samples.size
    expected = np.maximum(intervals[start - 1 : -1], intervals[start:])
    assert np.allclose(envelope, expected, atol=1e-6)
    assert envelope[0] == pytest.approx(2 * np.sinc(0.5) * 0.5, rel=0.02)


def test_limiter_brings_down_a_peak_made_by_two_touching_segments(true_peak_of: Meter) -> None:
    level = 10.0 ** (-1.5 / 20.0)  # each alone is under -1 dBTP; joined they reach +0.6
    first, second = _doublet_junction(level)
    segments = [first, second]
    assert true_peak_of(first.samples) < -1.0
    assert true_peak_of(second.samples) < -1.0
    assert true_peak_of(_timeline(segments, second.end_sample)) > 0.0

    limited = []
    for index, segment in enumerate(segments):
        before, after = guard_context(segments=segments, index=index)
        result = limit_true_peak(
            samples=segment.samples, ceiling_dbtp=-1.0, before=before, after=after
        )
        limited.append(PlacedAudio(segment.start_sample, result.samples))

    assert true_peak_of(_timeline(limited, second.end_sample)) <= -1.0 + 0.05
    # Limited one by one in silence, neither segment sees the junction's peak.
    blind = [
        PlacedAudio(
            segment.start_sample,
            limit_true_peak(samples=segment.samples, ceiling_dbtp=-1.0).samples,
        )
        for segment in segments
    ]
    assert true_peak_of(_timeline(blind, second.end_sample)) > 0.0


def test_normalising_touching_segments_keeps_their_junction_under_the_ceiling(
    true_peak_of: Meter,
) -> None:
    first, second = _doublet_junction(0.5)
    segments = [first, second]
    total = second.end_sample + 1_000

    normalised = normalise_loudness(
        segments=segments, total_samples=total, target_lufs=-23.0, ceiling_dbtp=-1.0
    )

    written = true_peak_of(_timeline(normalised.segments, total))
    assert normalised.limiter_reduction_db > 0.0
    assert written <= -1.0 + 0.05
    assert normalised.true_peak_dbtp == pytest.approx(written, abs=1e-4)


def test_segments_that_cannot_reach_the_ceiling_are_only_gained(
    make_speech: Callable[..., Signal],
) -> None:
    calm = make_speech(3.0, peak=0.05)
    peaky = make_speech(3.0, peak=0.05, seed=1)
    peaky[SAMPLE_RATE_HZ : SAMPLE_RATE_HZ + 3] = 0.9
    segments = [PlacedAudio(0, calm), PlacedAudio(100_000, peaky)]

    normalised = normalise_loudness(
        segments=segments, total_samples=200_000, target_lufs=-16.0, ceiling_dbtp=-1.0
    )

    gain = np.float32(10.0 ** (normalised.gain_db / 20.0))
    assert normalised.limiter_reduction_db > 0.0
    assert np.array_equal(normalised.segments[0].samples, calm * gain)
    assert not np.array_equal(normalised.segments[1].samples, peaky * gain)
