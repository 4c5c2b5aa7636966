"""Writing dub.wav: placed, stretched and loudness-normalised segments on the source timeline."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from pipeline.dub.loudness import levelled_segments, plan_levelling
from pipeline.dub.pcm import SAMPLE_RATE_HZ, PlacedAudio, as_float_samples, to_pcm16
from pipeline.dub.placement import Placement
from pipeline.dub.segments import SpilledSegments
from pipeline.dub.stretch import stretched_pieces
from pipeline.dub.true_peak import TruePeakMeter

# How far a segment's audio may disagree with the duration it was placed with before
# the caller has clearly handed over the wrong audio.
_DURATION_TOLERANCE_S = 0.005
# Silence is written from one reused block of zeros, so memory stays flat however long
# the gaps are.
_SILENCE_BLOCK_SAMPLES = SAMPLE_RATE_HZ * 10
# Dub audio is converted to PCM16 and metered in blocks: a minutes-long segment would
# otherwise take several whole-segment working copies on its way out.
_WRITE_BLOCK_SAMPLES = 1 << 16


@dataclass(frozen=True, slots=True)
class DubReport:
    """What render_dub wrote, for the manifest."""

    duration_s: float
    overflow_s: float
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    gain_db: float
    limiter_reduction_db: float
    placements: tuple[Placement, ...]

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready values."""
        return {
            "duration_s": self.duration_s,
            "overflow_s": self.overflow_s,
            "loudness_lufs": self.loudness_lufs,
            "true_peak_dbtp": self.true_peak_dbtp,
            "gain_db": self.gain_db,
            "limiter_reduction_db": self.limiter_reduction_db,
            "placements": [asdict(placement) for placement in self.placements],
        }


def render_dub(
    segments: Iterable[tuple[Placement, npt.NDArray[np.generic]]],
    *,
    timeline_end_s: float,
    out_path: Path,
    loudness_lufs: float = -23.0,
    true_peak_dbtp: float = -1.0,
) -> DubReport:
    """Write the dub timeline as 24 kHz mono PCM16 WAV and report how it was built."""
    if not (math.isfinite(timeline_end_s) and timeline_end_s >= 0.0):
        raise ValueError(f"timeline_end_s must be a finite non-negative time, got {timeline_end_s}")
    if not (math.isfinite(loudness_lufs) and math.isfinite(true_peak_dbtp)):
        raise ValueError("loudness_lufs and true_peak_dbtp must be finite")
    # Pass one stretches every segment into its slot and parks it on disk beside the
    # output, so memory holds one segment at a time however long the dub; measuring and
    # writing then read the segments back in timeline order.
    with SpilledSegments(directory=out_path.parent) as placed:
        placements = _stretch_into(placed, segments)
        timeline_samples = round(timeline_end_s * SAMPLE_RATE_HZ)
        # A final dub that runs late lengthens the file rather than losing its last words.
        total_samples = max(
            [timeline_samples, *(placed.bounds(index)[1] for index in range(len(placed)))]
        )
        levelling = plan_levelling(
            segments=placed,
            total_samples=total_samples,
            target_lufs=loudness_lufs,
            ceiling_dbtp=true_peak_dbtp,
        )
        # Pass two: level each segment as it is written, silence and segments in timeline order.
        written_peak_dbtp = _write_timeline(
            levelled_segments(segments=placed, levelling=levelling),
            total_samples=total_samples,
            out_path=out_path,
        )
    return DubReport(
        duration_s=total_samples / SAMPLE_RATE_HZ,
        overflow_s=(total_samples - timeline_samples) / SAMPLE_RATE_HZ,
        loudness_lufs=levelling.loudness_lufs,
        true_peak_dbtp=written_peak_dbtp,
        gain_db=levelling.gain_db,
        limiter_reduction_db=levelling.limiter_reduction_db,
        placements=placements,
    )


def _stretch_into(
    spill: SpilledSegments, segments: Iterable[tuple[Placement, npt.NDArray[np.generic]]]
) -> tuple[Placement, ...]:
    """Stretch each segment into its slot and spill it; the placements in timeline order."""
    placements: list[Placement] = []
    for placement, audio in segments:
        _spill_fitted(spill, placement, audio)
        placements.append(placement)
        # Let this segment's audio go before the caller produces the next one.
        del audio
    order = sorted(
        range(len(placements)),
        key=lambda position: (spill.bounds(position)[0], placements[position].index),
    )
    spill.reorder(order)
    ordered = tuple(placements[position] for position in order)
    _check_no_overlap(ordered, spill)
    return ordered


def _spill_fitted(
    spill: SpilledSegments, placement: Placement, audio: npt.NDArray[np.generic]
) -> None:
    samples = as_float_samples(samples=audio)
    audio_s = samples.size / SAMPLE_RATE_HZ
    if abs(audio_s - placement.natural_duration_s) > _DURATION_TOLERANCE_S:
        raise ValueError(
            f"dub {placement.index}: audio lasts {audio_s:.3f} s but was placed as "
            f"{placement.natural_duration_s:.3f} s"
        )
    # Both ends snap to the sample grid the same way, so placements that touch on the
    # timeline touch in the file, and ones that do not overlap never will.
    start_sample = round(placement.start_s * SAMPLE_RATE_HZ)
    length = round(placement.end_s * SAMPLE_RATE_HZ) - start_sample
    # Stretched piece by piece straight into the spill: the stretched dub is never whole.
    spill.add(
        start_sample=start_sample,
        pieces=stretched_pieces(samples=samples, speed=placement.speed, length=length),
    )


def _check_no_overlap(placements: Sequence[Placement], spill: SpilledSegments) -> None:
    for position, (earlier, later) in enumerate(itertools.pairwise(placements)):
        if spill.bounds(position)[1] > spill.bounds(position + 1)[0]:
            raise ValueError(
                f"dubs {earlier.index} and {later.index} overlap; place them with place_dubs"
            )


def _write_timeline(
    segments: Iterator[PlacedAudio], *, total_samples: int, out_path: Path
) -> float | None:
    # Write beside the target and rename, so a crash never leaves a half-written dub.wav.
    # The true peak is measured on the way out, junctions between touching dubs included.
    partial_path = out_path.with_name(out_path.name + ".partial")
    silence = np.zeros(_SILENCE_BLOCK_SAMPLES, dtype=np.int16)
    peak_meter = TruePeakMeter()
    try:
        with soundfile.SoundFile(
            partial_path,
            mode="w",
            samplerate=SAMPLE_RATE_HZ,
            channels=1,
            subtype="PCM_16",
            format="WAV",
        ) as wav:
            cursor = 0
            for segment in segments:
                _write_silence(wav, silence, count=segment.start_sample - cursor)
                peak_meter.feed_silence(segment.start_sample - cursor)
                for start in range(0, segment.samples.size, _WRITE_BLOCK_SAMPLES):
                    block = segment.samples[start : start + _WRITE_BLOCK_SAMPLES]
                    wav.write(to_pcm16(samples=block))
                    peak_meter.feed(block)
                cursor = segment.end_sample
                # Let this segment go before the next one is read and levelled.
                del segment, block
            _write_silence(wav, silence, count=total_samples - cursor)
            peak_meter.feed_silence(total_samples - cursor)
    except BaseException:
        partial_path.unlink(missing_ok=True)
        raise
    os.replace(partial_path, out_path)
    return peak_meter.peak_dbtp()


def _write_silence(wav: soundfile.SoundFile, silence: npt.NDArray[np.int16], *, count: int) -> None:
    while count > 0:
        block = min(count, silence.size)
        wav.write(silence[:block])
        count -= block
