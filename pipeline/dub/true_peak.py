"""True-peak measurement (BS.1770 oversampling) and a true-peak limiter for dub segments."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin

from pipeline.dub.pcm import SAMPLE_RATE_HZ, FloatSamples, PlacedAudio

# BS.1770-4 Annex 2: at 24 kHz, 4x oversampling reveals the peaks between samples
# that a sample-peak meter misses.
OVERSAMPLING = 4
# The interpolator is the one scipy's resample_poly designs for 4x (a Kaiser-windowed sinc,
# beta 5, reaching 10 input samples each side), split into its four phases: phase p gives
# the signal at n + p/4 from x[n - 10] .. x[n + 10]. Four short float32 sums give
# resample_poly's numbers to float32 rounding, several times faster.
_REACH = 10
_PROTOTYPE = OVERSAMPLING * firwin(
    2 * _REACH * OVERSAMPLING + 1, 1.0 / OVERSAMPLING, window=("kaiser", 5.0)
)
# Phase 0 lands on the samples themselves, where the sinc's other taps are zero.
_PHASE_0_GAIN = np.float32(_PROTOTYPE[_REACH * OVERSAMPLING])
_PHASES = [
    np.array(
        [
            _PROTOTYPE[2 * _REACH * OVERSAMPLING + phase - OVERSAMPLING * k]
            if OVERSAMPLING * k >= phase
            else 0.0
            for k in range(2 * _REACH + 1)
        ],
        dtype=np.float32,
    )
    for phase in range(1, OVERSAMPLING)
]
# The timeline around a segment that its edges' true peak depends on: the interval just
# before its first sample reaches back _REACH + 1 samples.
GUARD_SAMPLES = _REACH + 1
# Work in blocks so the oversampled copies stay small for long segments.
_BLOCK_SAMPLES = 1 << 16
# The limiter ramps its gain over 5 ms before and after a peak: short enough to leave
# the words' loudness alone, long enough that the gain change does not click.
_RAMP_SAMPLES = SAMPLE_RATE_HZ * 5 // 1000
# Aim a little under the ceiling: the gain curve varies between samples, which can
# move the reconstructed peak by a hair.
_CEILING_MARGIN_DB = 0.05
_LIMITER_PASSES = 4
_NO_CONTEXT = np.zeros(0, dtype=np.float32)


def true_peak_envelope(
    *,
    samples: FloatSamples,
    before: FloatSamples = _NO_CONTEXT,
    after: FloatSamples = _NO_CONTEXT,
) -> FloatSamples:
    """Per sample, the largest magnitude of the 4x-oversampled signal on either side of it.

    `before` and `after` are the timeline right around the segment (a neighbour's edge and
    the silence up to it); without them the segment is taken to sit in silence.
    """
    if samples.size == 0:
        return np.zeros(0, dtype=np.float32)
    # Peaks in [n, n+1) for n from -1: sample n also shapes the signal in [n-1, n).
    forward = np.empty(samples.size + 1, dtype=np.float32)
    for first in range(-1, samples.size, _BLOCK_SAMPLES):
        stop = min(first + _BLOCK_SAMPLES, samples.size)
        window = _timeline_window(samples, before, after, first - _REACH, stop + _REACH)
        forward[first + 1 : stop + 1] = _interval_peaks(window)
    envelope: FloatSamples = np.maximum(forward[:-1], forward[1:])
    return envelope


def true_peak_dbtp(*, segments: Sequence[FloatSamples]) -> float | None:
    """The true peak over segments that each sit in silence, in dBTP; None for silence."""
    peak = max((_peak_linear(segment) for segment in segments), default=0.0)
    return _to_db(peak) if peak > 0.0 else None


def segment_true_peaks(*, segments: Sequence[PlacedAudio]) -> list[float]:
    """Each segment's linear true peak where it sits on the timeline, neighbours included."""
    return [
        segment_true_peak(
            samples=segment.samples, context=guard_context(segments=segments, index=index)
        )
        for index, segment in enumerate(segments)
    ]


def segment_true_peak(
    *, samples: FloatSamples, context: tuple[FloatSamples, FloatSamples]
) -> float:
    """One segment's linear true peak, given the timeline just around it (guard_context)."""
    return _peak_linear(samples, *context)


def guard_context(
    *, segments: Sequence[PlacedAudio], index: int
) -> tuple[FloatSamples, FloatSamples]:
    """The GUARD_SAMPLES of timeline just before and just after segment `index`.

    Segments must be in timeline order without overlaps. Touching dubs are common (a sped-up
    dub runs right up to the next one), and the peak between them depends on both.
    """
    return edge_context(tails=segments, heads=segments, index=index)


def edge_context(
    *, tails: Sequence[PlacedAudio], heads: Sequence[PlacedAudio], index: int
) -> tuple[FloatSamples, FloatSamples]:
    """guard_context from each segment's edges alone.

    tails[i] and heads[i] may hold just the last and first GUARD_SAMPLES of segment i (or
    all of it): segments do not overlap, so the timeline before a segment's start can only
    hold the ends of earlier ones, and after its end only the starts of later ones.
    """
    start, end = heads[index].start_sample, tails[index].end_sample
    before = np.zeros(GUARD_SAMPLES, dtype=np.float32)
    after = np.zeros(GUARD_SAMPLES, dtype=np.float32)
    lo, hi = start - GUARD_SAMPLES, end + GUARD_SAMPLES
    earlier = index - 1
    while earlier >= 0 and tails[earlier].end_sample > lo:
        _copy_overlap(tails[earlier], into=before, at=lo)
        earlier -= 1
    later = index + 1
    while later < len(heads) and heads[later].start_sample < hi:
        _copy_overlap(heads[later], into=after, at=end)
        later += 1
    return before, after


class TruePeakMeter:
    """The true peak of a whole timeline fed in order, exactly as oversampling the file would.

    Holds only the last few samples fed, so the timeline itself is never built.
    """

    def __init__(self) -> None:
        # The samples before the file starts count as silence, as resample_poly treats them.
        self._tail = np.zeros(2 * _REACH, dtype=np.float32)
        self._fed = 0
        self._peak = 0.0

    def feed(self, samples: FloatSamples) -> None:
        """Measure the next stretch of the timeline."""
        for start in range(0, samples.size, _BLOCK_SAMPLES):
            block = samples[start : start + _BLOCK_SAMPLES]
            window = np.concatenate([self._tail, block])
            # Complete are the intervals whose reach ends inside the window; the last _REACH
            # wait for the next feed.
            self._note(_interval_peaks(window), first=self._fed - _REACH)
            self._tail = window[-2 * _REACH :].copy()
            self._fed += block.size

    def feed_silence(self, count: int) -> None:
        """Measure `count` samples of digital silence without being handed them."""
        ringing = min(count, 2 * _REACH)
        if ringing and self._tail.any():
            self.feed(np.zeros(ringing, dtype=np.float32))
            count -= ringing
        # Beyond the interpolator's reach of any sound the reconstruction is exactly zero.
        self._fed += count
        if count:
            self._tail = np.zeros(2 * _REACH, dtype=np.float32)

    def peak_dbtp(self) -> float | None:
        """The true peak so far in dBTP, or None when everything fed was digital silence."""
        # The last intervals see past the end of the file, where there is nothing.
        window = np.concatenate([self._tail, np.zeros(_REACH, dtype=np.float32)])
        pending = _in_file(_interval_peaks(window), first=self._fed - _REACH)
        peak = max(self._peak, float(pending.max()) if pending.size else 0.0)
        return _to_db(peak) if peak > 0.0 else None

    def _note(self, peaks: FloatSamples, *, first: int) -> None:
        usable = _in_file(peaks, first=first)
        if usable.size:
            self._peak = max(self._peak, float(usable.max()))


def _in_file(peaks: FloatSamples, *, first: int) -> FloatSamples:
    # Intervals before sample 0 are ringing ahead of the file, which it does not hold.
    return peaks[max(0, -first) :]


@dataclass(frozen=True, slots=True)
class Limited:
    """A segment after the true-peak limiter, and the deepest gain reduction it took."""

    samples: FloatSamples
    reduction_db: float


def limit_true_peak(
    *,
    samples: FloatSamples,
    ceiling_dbtp: float,
    before: FloatSamples = _NO_CONTEXT,
    after: FloatSamples = _NO_CONTEXT,
) -> Limited:
    """Lower the gain smoothly around peaks so the true peak stays under `ceiling_dbtp`.

    `before` and `after` are the timeline around the segment, as for true_peak_envelope;
    only the segment's own samples are changed.
    """
    limited = samples
    applied: FloatSamples | None = None
    target_dbtp = ceiling_dbtp - _CEILING_MARGIN_DB
    # A further pass catches the rare inter-sample overshoot the smoothed gain leaves behind.
    for _ in range(_LIMITER_PASSES):
        envelope = true_peak_envelope(samples=limited, before=before, after=after)
        if envelope.size == 0 or _to_db(float(envelope.max())) <= ceiling_dbtp:
            break
        gain = _gain_curve(envelope, target_dbtp)
        limited = (limited * gain).astype(np.float32)
        applied = gain if applied is None else applied * gain
        target_dbtp -= _CEILING_MARGIN_DB
    deepest = float(applied.min()) if applied is not None and applied.size else 1.0
    return Limited(samples=limited, reduction_db=max(0.0, -_to_db(deepest)))


def _gain_curve(envelope: FloatSamples, target_dbtp: float) -> FloatSamples:
    ceiling = np.float32(10.0 ** (target_dbtp / 20.0))
    floor = np.float32(1e-12)  # keeps the division finite where the signal is silent
    needed = np.minimum(np.float32(1.0), ceiling / np.maximum(envelope, floor))
    # Lookahead and release: hold the deepest reduction for a ramp's width on each side,
    # then average over the same width. The average at a peak only sees values at or below
    # what that peak needs, so the peak is still brought under the ceiling, and the gain
    # moves in straight ramps rather than jumps.
    width = 2 * _RAMP_SAMPLES + 1
    held = minimum_filter1d(needed, size=width, mode="nearest")
    smoothed: FloatSamples = uniform_filter1d(held, size=width, mode="nearest", output=np.float32)
    return smoothed


def _interval_peaks(window: FloatSamples) -> FloatSamples:
    # For each n with _REACH samples of context on both sides in `window`: the largest
    # magnitude of the oversampled signal in [n, n+1).
    count = window.size - 2 * _REACH
    core = slice(_REACH, window.size - _REACH)
    peaks: FloatSamples = np.abs(window[core]) * _PHASE_0_GAIN
    if count <= 0:
        return peaks
    # Each phase summed tap by tap over the whole window (vectorised multiply-adds) rather
    # than with a correlation, which works sample by sample: the same sums in another
    # order (float32 rounding apart), in half the time; metering every mix and dub sample
    # makes this the mix's largest cost after decoding.
    phase = np.empty(count, dtype=np.float32)
    term = np.empty(count, dtype=np.float32)
    for taps in _PHASES:
        phase.fill(0.0)
        for offset, tap in enumerate(taps):
            if tap:
                np.multiply(window[offset : offset + count], tap, out=term)
                phase += term
        np.abs(phase, out=phase)
        np.maximum(peaks, phase, out=peaks)
    return peaks


def _timeline_window(
    samples: FloatSamples, before: FloatSamples, after: FloatSamples, start: int, stop: int
) -> FloatSamples:
    # samples[start:stop] where the segment sits on the timeline: the context just outside
    # it, and silence beyond that.
    if start >= 0 and stop <= samples.size:
        return samples[start:stop]
    window = np.zeros(stop - start, dtype=np.float32)
    for piece, offset in ((before, -before.size), (samples, 0), (after, samples.size)):
        lo, hi = max(start, offset), min(stop, offset + piece.size)
        if lo < hi:
            window[lo - start : hi - start] = piece[lo - offset : hi - offset]
    return window


def _copy_overlap(segment: PlacedAudio, *, into: FloatSamples, at: int) -> None:
    lo, hi = max(at, segment.start_sample), min(at + into.size, segment.end_sample)
    if lo < hi:
        into[lo - at : hi - at] = segment.samples[
            lo - segment.start_sample : hi - segment.start_sample
        ]


def _peak_linear(
    samples: FloatSamples,
    before: FloatSamples = _NO_CONTEXT,
    after: FloatSamples = _NO_CONTEXT,
) -> float:
    peak = 0.0
    for first in range(-1, samples.size, _BLOCK_SAMPLES):
        stop = min(first + _BLOCK_SAMPLES, samples.size)
        window = _timeline_window(samples, before, after, first - _REACH, stop + _REACH)
        peak = max(peak, float(_interval_peaks(window).max()))
    return peak


def _to_db(linear: float) -> float:
    return 20.0 * math.log10(linear) if linear > 0.0 else -math.inf
