"""A long source must not cost memory in proportion to its length, nor a long dub a multiple of it."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from pipeline.dub import SAMPLE_RATE_HZ, DubRequest, place_dubs, render_dub
from pipeline.dub.meter import LoudnessMeter

TWO_HOURS_S = 2 * 60 * 60
# A whole 2-hour timeline as int16 would be 345.6 MB; as float32, twice that.
WHOLE_TIMELINE_INT16_BYTES = TWO_HOURS_S * SAMPLE_RATE_HZ * 2
# An hour of dub: 600 dubs of 6 s, one every 8 s.
DUB_COUNT = 600
DUB_S = 6.0
DUB_EVERY_S = 8.0
ONE_HOUR_OF_DUB_FLOAT32_BYTES = DUB_COUNT * round(DUB_S * SAMPLE_RATE_HZ) * 4  # 345.6 MB


@pytest.mark.slow
def test_two_hour_timeline_is_written_without_holding_it_in_memory(
    tmp_path: Path, make_speech: Callable[..., npt.NDArray[np.float32]]
) -> None:
    anchors_s = [30.0, 3_600.0, TWO_HOURS_S - 20.0]
    dubs = [make_speech(5.0, peak=0.5, seed=n) for n in range(len(anchors_s))]
    requests = [
        DubRequest(n, anchor_s=anchor_s, duration_s=dub.size / SAMPLE_RATE_HZ)
        for n, (anchor_s, dub) in enumerate(zip(anchors_s, dubs, strict=True))
    ]
    placements = place_dubs(requests, timeline_end_s=TWO_HOURS_S)
    out_path = tmp_path / "dub.wav"

    tracemalloc.start()
    try:
        report = render_dub(
            [(placement, dubs[placement.index]) for placement in placements],
            timeline_end_s=TWO_HOURS_S,
            out_path=out_path,
        )
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # What is held is the dub audio (15 s here) and its working copies, not the timeline.
    assert peak_bytes < WHOLE_TIMELINE_INT16_BYTES / 10
    assert soundfile.info(str(out_path)).frames == TWO_HOURS_S * SAMPLE_RATE_HZ
    assert report.overflow_s == 0.0
    assert report.loudness_lufs == pytest.approx(-23.0, abs=0.1)
    with soundfile.SoundFile(out_path) as wav:
        for placement in placements:
            wav.seek(round(placement.start_s * SAMPLE_RATE_HZ))
            assert np.abs(wav.read(SAMPLE_RATE_HZ, dtype="float32")).max() > 0.01
        wav.seek(round(1_800 * SAMPLE_RATE_HZ))
        assert not wav.read(SAMPLE_RATE_HZ, dtype="int16").any()
    out_path.unlink()  # 345 MB is too much to leave behind in pytest's kept temp dirs


@pytest.mark.slow
def test_an_hour_of_dub_costs_little_more_than_holding_it_once(
    tmp_path: Path, make_speech: Callable[..., npt.NDArray[np.float32]]
) -> None:
    # A few distinct dubs stand in for 600: stretching copies each into its own slot, so the
    # renderer still holds a full hour of distinct audio.
    voices = [make_speech(DUB_S, peak=0.5, seed=n) for n in range(10)]
    timeline_end_s = DUB_COUNT * DUB_EVERY_S
    requests = [
        DubRequest(n, anchor_s=n * DUB_EVERY_S + 1.0, duration_s=DUB_S) for n in range(DUB_COUNT)
    ]
    placements = place_dubs(requests, timeline_end_s=timeline_end_s)
    out_path = tmp_path / "dub.wav"

    tracemalloc.start()
    try:
        report = render_dub(
            [(placement, voices[placement.index % len(voices)]) for placement in placements],
            timeline_end_s=timeline_end_s,
            out_path=out_path,
        )
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # The stretched dub is held once; measuring, limiting and writing add a segment's worth
    # of working copies. (Measuring with pyloudnorm peaked at 8.4x: 2.9 GB for this hour.)
    assert peak_bytes < 1.25 * ONE_HOUR_OF_DUB_FLOAT32_BYTES
    assert report.loudness_lufs == pytest.approx(-23.0, abs=0.1)
    assert report.true_peak_dbtp is not None
    assert report.true_peak_dbtp <= -1.0
    # Levelled as it was written, the file reads what was planned: measure it block by block.
    written = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)
    for block in soundfile.blocks(str(out_path), blocksize=1 << 20, dtype="float32"):
        written.feed(block)
    assert written.integrated_lufs() == pytest.approx(-23.0, abs=0.1)
    out_path.unlink()
