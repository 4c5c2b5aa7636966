"""EBU R128 levelling of the dub: measure the timeline, choose a gain, limit true peaks.

Nothing here builds the timeline or holds the dub: segments are read one at a time from
wherever they wait (PlacedSegments), both meters are fed them and the silence between them
in order, and the levelled audio is produced one segment at a time, as it is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

import numpy as np

from pipeline.dub.meter import LoudnessMeter, MeanSquares, gated_loudness_lufs
from pipeline.dub.pcm import SAMPLE_RATE_HZ, FloatSamples, PlacedAudio
from pipeline.dub.segments import InMemorySegments, PlacedSegments
from pipeline.dub.true_peak import TruePeakMeter, limit_true_peak, segment_true_peak

# One BS.1770 gating block: under this much dub audio there is too little speech to judge.
_BLOCK_SAMPLES = round(0.4 * SAMPLE_RATE_HZ)
# Gain is linear, but the -70 LUFS absolute gate and the limiter are not: re-measure
# and correct until the result sits this close to target.
_TOLERANCE_LU = 0.05
_MAX_PASSES = 5
# Segments whose gained true peak comes this close to the ceiling go through the limiter,
# which decides for itself; the rest cannot reach it and are only gained.
_LIMITER_HEADROOM_DB = 0.01


@dataclass(frozen=True, slots=True)
class Levelling:
    """The gain that brings the dub to target, the segments the limiter shapes, and the result."""

    gain_db: float
    ceiling_dbtp: float
    loudness_lufs: float | None
    limiter_reduction_db: float
    limited_segments: frozenset[int]


@dataclass(frozen=True, slots=True)
class Normalised:
    """Segments after loudness normalisation, with what was measured and done."""

    segments: list[PlacedAudio]
    gain_db: float
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    limiter_reduction_db: float


def integrated_loudness_lufs(*, samples: FloatSamples) -> float | None:
    """BS.1770 integrated loudness, or None when too short or too quiet to measure."""
    meter = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)
    meter.feed(samples)
    return meter.integrated_lufs()


def timeline_loudness_lufs(*, segments: Sequence[PlacedAudio], total_samples: int) -> float | None:
    """Integrated loudness of the whole timeline, measured without building it."""
    return gated_loudness_lufs(
        subblock_mean_squares=_timeline_mean_squares(segments, total_samples=total_samples)
    )


def timeline_true_peak_dbtp(*, segments: Iterable[PlacedAudio], total_samples: int) -> float | None:
    """True peak of the whole timeline in dBTP, measured without building it."""
    meter = TruePeakMeter()
    _feed_timeline(meter, segments=segments, total_samples=total_samples)
    return meter.peak_dbtp()


def plan_levelling(
    *,
    segments: PlacedSegments,
    total_samples: int,
    target_lufs: float,
    ceiling_dbtp: float,
) -> Levelling:
    """Find the gain that brings the timeline to `target_lufs`, true peaks under `ceiling_dbtp`.

    Segments must be in timeline order without overlaps. Only measurements are kept: the
    levelled audio comes from levelled_segments, one segment at a time. Each pass reads
    every segment once; passes after the first happen only when the limiter is needed.
    """
    unmeasured = Levelling(
        gain_db=0.0,
        ceiling_dbtp=ceiling_dbtp,
        loudness_lufs=None,
        limiter_reduction_db=0.0,
        limited_segments=frozenset(),
    )
    if sum(end - start for start, end in map(segments.bounds, range(len(segments)))) < (
        _BLOCK_SAMPLES
    ):
        return unmeasured
    # K-weighting is linear: the dub's 100 ms energies scale with the gain squared, so
    # until the limiter changes the audio no pass needs to filter it again.
    peaks: list[float] = []

    def peaked(index: int) -> PlacedAudio:
        # One read of each segment feeds both the loudness meter and its true peak.
        segment = segments.placed(index)
        peaks.append(segment_true_peak(samples=segment.samples, context=segments.context(index)))
        return segment

    mean_squares = _timeline_mean_squares(
        map(peaked, range(len(segments))), total_samples=total_samples
    )
    measured = gated_loudness_lufs(subblock_mean_squares=mean_squares)
    if measured is None:
        return unmeasured
    gain_db = target_lufs - measured
    for attempt in range(1, _MAX_PASSES + 1):
        levelling = _levelling_at(
            segments,
            mean_squares,
            peaks,
            total_samples=total_samples,
            gain_db=gain_db,
            ceiling_dbtp=ceiling_dbtp,
        )
        loudness = levelling.loudness_lufs
        if loudness is None or abs(target_lufs - loudness) <= _TOLERANCE_LU:
            break
        if attempt == _MAX_PASSES:
            break  # report what was reached; the manifest shows the miss
        # The limiter took some loudness away with the peaks: ask for a little more gain.
        gain_db += target_lufs - loudness
    return levelling


def levelled_segments(*, segments: PlacedSegments, levelling: Levelling) -> Iterator[PlacedAudio]:
    """The segments with the levelling applied, produced one at a time in timeline order."""
    # map, unlike a loop, holds no reference to the segment before: one is alive at a time.
    return map(itemgetter(0), _levelled(segments, levelling))


def normalise_loudness(
    *,
    segments: Sequence[PlacedAudio],
    total_samples: int,
    target_lufs: float,
    ceiling_dbtp: float,
) -> Normalised:
    """Gain all segments together to `target_lufs`, true-peak limited to `ceiling_dbtp`.

    Holds the levelled copy of every segment; render_dub streams them instead.
    """
    held = InMemorySegments(segments)
    levelling = plan_levelling(
        segments=held,
        total_samples=total_samples,
        target_lufs=target_lufs,
        ceiling_dbtp=ceiling_dbtp,
    )
    adjusted = list(levelled_segments(segments=held, levelling=levelling))
    return Normalised(
        segments=adjusted,
        gain_db=levelling.gain_db,
        loudness_lufs=levelling.loudness_lufs,
        true_peak_dbtp=timeline_true_peak_dbtp(segments=adjusted, total_samples=total_samples),
        limiter_reduction_db=levelling.limiter_reduction_db,
    )


def _levelling_at(
    segments: PlacedSegments,
    mean_squares: MeanSquares,
    peaks: Sequence[float],
    *,
    total_samples: int,
    gain_db: float,
    ceiling_dbtp: float,
) -> Levelling:
    gain = 10.0 ** (gain_db / 20.0)
    reach = 10.0 ** ((ceiling_dbtp - _LIMITER_HEADROOM_DB) / 20.0)
    limited = frozenset(index for index, peak in enumerate(peaks) if peak * gain > reach)
    plan = Levelling(
        gain_db=gain_db,
        ceiling_dbtp=ceiling_dbtp,
        loudness_lufs=None,
        limiter_reduction_db=0.0,
        limited_segments=limited,
    )
    if not limited:
        loudness = gated_loudness_lufs(subblock_mean_squares=mean_squares * gain**2)
        return _reached(plan, loudness_lufs=loudness, limiter_reduction_db=0.0)
    # The limiter changed some audio: measure the levelled timeline as it will be written.
    reductions_db: list[float] = []

    def levelled() -> Iterator[PlacedAudio]:
        for segment, reduction_db in _levelled(segments, plan):
            reductions_db.append(reduction_db)
            yield segment

    levelled_squares = _timeline_mean_squares(levelled(), total_samples=total_samples)
    return _reached(
        plan,
        loudness_lufs=gated_loudness_lufs(subblock_mean_squares=levelled_squares),
        limiter_reduction_db=max(reductions_db, default=0.0),
    )


def _reached(
    plan: Levelling, *, loudness_lufs: float | None, limiter_reduction_db: float
) -> Levelling:
    return Levelling(
        gain_db=plan.gain_db,
        ceiling_dbtp=plan.ceiling_dbtp,
        loudness_lufs=loudness_lufs,
        limiter_reduction_db=limiter_reduction_db,
        limited_segments=plan.limited_segments,
    )


def _levelled(
    segments: PlacedSegments, levelling: Levelling
) -> Iterator[tuple[PlacedAudio, float]]:
    if levelling.gain_db == 0.0 and not levelling.limited_segments:
        for index in range(len(segments)):
            yield segments.placed(index), 0.0
        return
    gain = np.float32(10.0 ** (levelling.gain_db / 20.0))
    for index in range(len(segments)):
        if index not in levelling.limited_segments:
            # Unnamed, so this generator does not hold it while the next is read.
            yield segments.gained(index, gain), 0.0
            continue
        segment = segments.gained(index, gain)
        # The neighbours' edges shape this segment's edge peaks; they get the same gain.
        before, after = segments.context(index)
        limited = limit_true_peak(
            samples=segment.samples,
            ceiling_dbtp=levelling.ceiling_dbtp,
            before=before * gain,
            after=after * gain,
        )
        placed = PlacedAudio(start_sample=segment.start_sample, samples=limited.samples)
        yield placed, limited.reduction_db


class _TimelineMeter(Protocol):
    def feed(self, samples: FloatSamples) -> None: ...

    def feed_silence(self, count: int) -> None: ...


def _timeline_mean_squares(segments: Iterable[PlacedAudio], *, total_samples: int) -> MeanSquares:
    meter = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)
    _feed_timeline(meter, segments=segments, total_samples=total_samples)
    return meter.subblock_mean_squares()


def _feed_timeline(
    meter: _TimelineMeter, *, segments: Iterable[PlacedAudio], total_samples: int
) -> None:
    # The silence between segments is fed as a count, never as samples.
    cursor = 0
    for segment in segments:
        if segment.start_sample < cursor:
            raise ValueError(
                f"segment at sample {segment.start_sample} overlaps or precedes the one before; "
                "segments must be in timeline order without overlaps"
            )
        meter.feed_silence(segment.start_sample - cursor)
        meter.feed(segment.samples)
        cursor = segment.end_sample
        del segment  # let it go before the next one is read
    meter.feed_silence(max(total_samples - cursor, 0))
