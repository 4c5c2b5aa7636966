"""The dub renders in flat memory: a longer dub costs disk, not memory, and sounds the same."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from pipeline.dub import SAMPLE_RATE_HZ, DubReport, DubRequest, Placement, place_dubs, render_dub
from pipeline.dub.loudness import normalise_loudness
from pipeline.dub.pcm import PlacedAudio, to_pcm16
from pipeline.dub.stretch import stretch_to_length

Signal = npt.NDArray[np.float32]
# Dubs of 6 s, one every 8 s: 10 minutes of dub is 100 of them.
DUB_S = 6.0
DUB_EVERY_S = 8.0
MB = 1_000_000


def _dub_of_minutes(
    minutes: int, voices: list[Signal], out_path: Path
) -> tuple[int, DubReport, list[Placement]]:
    count = round(minutes * 60 / DUB_S)
    timeline_end_s = count * DUB_EVERY_S
    placements = place_dubs(
        [DubRequest(n, anchor_s=n * DUB_EVERY_S + 1.0, duration_s=DUB_S) for n in range(count)],
        timeline_end_s=timeline_end_s,
    )

    def segments() -> Iterator[tuple[Placement, Signal]]:
        # Handed over one at a time, as the worker decodes them: the caller holds none.
        for placement in placements:
            yield placement, voices[placement.index % len(voices)]

    tracemalloc.start()
    try:
        report = render_dub(segments(), timeline_end_s=timeline_end_s, out_path=out_path)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak_bytes, report, placements


@pytest.mark.slow
def test_a_30_minute_dub_peaks_no_higher_than_a_10_minute_one(
    tmp_path: Path, make_speech: Callable[..., Signal]
) -> None:
    voices = [make_speech(DUB_S, peak=0.5, seed=n) for n in range(10)]

    short_peak, _, _ = _dub_of_minutes(10, voices, tmp_path / "short.wav")
    long_peak, report, placements = _dub_of_minutes(30, voices, tmp_path / "long.wav")

    # Holding the stretched dub would cost 5.76 MB per dubbed minute: 115 MB more for the
    # extra 20 minutes. Per-100 ms loudness energies (a few hundred kB) are all that grows.
    assert long_peak < short_peak + 1 * MB, (short_peak, long_peak)
    assert long_peak < 20 * MB
    assert report.loudness_lufs == pytest.approx(-23.0, abs=0.1)
    assert report.true_peak_dbtp is not None and report.true_peak_dbtp <= -1.0
    assert report.placements == tuple(placements)
    assert soundfile.info(str(tmp_path / "long.wav")).frames == round(
        len(placements) * DUB_EVERY_S * SAMPLE_RATE_HZ
    )
    # Nothing is left beside the output: the spill file has no name.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["long.wav", "short.wav"]


def test_streamed_dub_equals_levelling_it_all_in_memory(
    tmp_path: Path, make_speech: Callable[..., Signal]
) -> None:
    # Quiet dubs that need gain, two of them touching (the second is sped up into the third's
    # anchor), and one with clicks that the gain drives into the limiter; handed over out of
    # timeline order.
    peaky = make_speech(3.0, peak=0.03, seed=7)
    peaky[:: SAMPLE_RATE_HZ // 3] = 0.9
    dubs = [
        (1.0, make_speech(2.0, peak=0.05)),
        (4.0, make_speech(6.0, peak=0.05, seed=1)),
        (9.0, make_speech(2.0, peak=0.05, seed=2)),
        (12.0, peaky),
    ]
    timeline_end_s = 16.0
    placements = place_dubs(
        [
            DubRequest(n, anchor_s=anchor_s, duration_s=audio.size / SAMPLE_RATE_HZ)
            for n, (anchor_s, audio) in enumerate(dubs)
        ],
        timeline_end_s=timeline_end_s,
    )
    out_path = tmp_path / "dub.wav"

    report = render_dub(
        [(placement, dubs[placement.index][1]) for placement in reversed(placements)],
        timeline_end_s=timeline_end_s,
        out_path=out_path,
    )

    # The reference: every stretched segment held at once, levelled together, then laid out.
    held = []
    for placement in placements:
        start = round(placement.start_s * SAMPLE_RATE_HZ)
        length = round(placement.end_s * SAMPLE_RATE_HZ) - start
        fitted = stretch_to_length(
            samples=dubs[placement.index][1], speed=placement.speed, length=length
        )
        held.append(PlacedAudio(start_sample=start, samples=fitted))
    total_samples = round(timeline_end_s * SAMPLE_RATE_HZ)
    normalised = normalise_loudness(
        segments=held, total_samples=total_samples, target_lufs=-23.0, ceiling_dbtp=-1.0
    )
    timeline = np.zeros(total_samples, dtype=np.float32)
    for segment in normalised.segments:
        timeline[segment.start_sample : segment.end_sample] = segment.samples
    written, _ = soundfile.read(out_path, dtype="int16")

    assert normalised.limiter_reduction_db > 0.0
    assert np.abs(written.astype(np.int32) - to_pcm16(samples=timeline)).max() <= 1
    assert report.gain_db == pytest.approx(normalised.gain_db, abs=1e-9)
    assert report.loudness_lufs == pytest.approx(normalised.loudness_lufs, abs=1e-6)
    assert report.limiter_reduction_db == pytest.approx(normalised.limiter_reduction_db, abs=1e-6)
    assert report.true_peak_dbtp == pytest.approx(normalised.true_peak_dbtp, abs=0.01)
    assert report.placements == tuple(placements)
