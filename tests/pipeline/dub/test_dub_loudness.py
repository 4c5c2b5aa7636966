"""EBU R128 measurement, true peak and the true-peak limiter."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from scipy.signal import resample_poly
from scipy.signal.windows import tukey

from pipeline.dub import SAMPLE_RATE_HZ
from pipeline.dub.loudness import (
    integrated_loudness_lufs,
    normalise_loudness,
    timeline_loudness_lufs,
)
from pipeline.dub.pcm import PlacedAudio
from pipeline.dub.true_peak import limit_true_peak, true_peak_dbtp, true_peak_envelope

Signal = npt.NDArray[np.float32]
Meter = Callable[[npt.NDArray[np.floating]], float]


def _sine(
    frequency_hz: float, duration_s: float, *, amplitude: float, phase: float = 0.0
) -> Signal:
    t = np.arange(round(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t + phase)).astype(np.float32)


def test_1khz_sine_at_minus_20_dbfs_measures_about_minus_23_lufs() -> None:
    # BS.1770 calibration: a full-scale 1 kHz sine in one channel reads -3.01 LUFS.
    loudness = integrated_loudness_lufs(samples=_sine(1_000.0, 5.0, amplitude=0.1))

    assert loudness == pytest.approx(-23.0, abs=0.1)


def test_audio_shorter_than_one_gating_block_has_no_loudness() -> None:
    assert integrated_loudness_lufs(samples=_sine(1_000.0, 0.39, amplitude=0.5)) is None


def test_digital_silence_has_no_loudness() -> None:
    assert integrated_loudness_lufs(samples=np.zeros(SAMPLE_RATE_HZ * 2, dtype=np.float32)) is None


def test_true_peak_finds_the_peak_between_samples() -> None:
    # A quarter-rate sine sampled 45 degrees off its crests: every sample sits at 0.707 of
    # the peak, so a sample-peak meter reads 3 dB low.
    sine = _sine(SAMPLE_RATE_HZ / 4, 1.0, amplitude=0.5, phase=np.pi / 4)
    sine *= tukey(sine.size, alpha=0.1).astype(np.float32)  # no overshoot from a hard start

    sample_peak_db = 20 * np.log10(np.abs(sine).max())
    measured = true_peak_dbtp(segments=[sine])

    assert measured == pytest.approx(20 * np.log10(0.5), abs=0.1)
    assert measured is not None
    assert measured - sample_peak_db == pytest.approx(3.0, abs=0.1)


def test_true_peak_of_silence_is_none() -> None:
    assert true_peak_dbtp(segments=[np.zeros(100, dtype=np.float32)]) is None
    assert true_peak_dbtp(segments=[]) is None


def test_blockwise_envelope_matches_oversampling_the_whole_signal() -> None:
    noise = np.random.default_rng(1).uniform(-1, 1, 200_003).astype(np.float32)

    envelope = true_peak_envelope(samples=noise)

    whole = np.abs(resample_poly(noise.astype(np.float64), 4, 1)).reshape(-1, 4).max(axis=1)
    assert envelope.max() == pytest.approx(whole.max(), rel=1e-6)
    assert np.allclose(envelope[1:], np.maximum(whole[1:], whole[:-1]), rtol=1e-5, atol=1e-6)


def test_limiter_leaves_audio_under_the_ceiling_alone() -> None:
    quiet = _sine(440.0, 1.0, amplitude=0.5)

    limited = limit_true_peak(samples=quiet, ceiling_dbtp=-1.0)

    assert np.array_equal(limited.samples, quiet)
    assert limited.reduction_db == 0.0


def test_limiter_brings_true_peak_under_the_ceiling_with_a_smooth_gain(true_peak_of: Meter) -> None:
    signal = _sine(1_500.0, 2.0, amplitude=0.3)
    burst = slice(SAMPLE_RATE_HZ, SAMPLE_RATE_HZ + 240)
    signal[burst] *= 5.0  # a 10 ms shout at 1.5x full scale

    limited = limit_true_peak(samples=signal, ceiling_dbtp=-1.0)

    assert true_peak_of(limited.samples) <= -1.0
    assert limited.reduction_db > 3.0
    # The gain ramps in and out over milliseconds instead of jumping, so it does not click.
    audible = np.abs(signal) > 0.1
    gain = np.where(audible, limited.samples / np.where(audible, signal, 1.0), np.nan)
    steps = np.abs(np.diff(gain))
    assert np.nanmax(steps) < 0.02
    # Audio well away from the burst is untouched.
    assert np.array_equal(limited.samples[: SAMPLE_RATE_HZ // 2], signal[: SAMPLE_RATE_HZ // 2])


def test_timeline_loudness_equals_measuring_the_whole_timeline(
    make_speech: Callable[..., Signal], lufs_of: Meter
) -> None:
    # Gaps of every kind: longer than a block, shorter, touching, and uneven hops.
    starts = [12_345, 200_000, 205_000, 301_111, 400_000]
    lengths = [48_000, 4_000, 60_000, 24_000, 72_000]
    segments = [
        PlacedAudio(
            start_sample=start, samples=make_speech(length / SAMPLE_RATE_HZ, peak=0.5, seed=n)
        )
        for n, (start, length) in enumerate(zip(starts, lengths, strict=True))
    ]
    total_samples = 1_000_000
    timeline = np.zeros(total_samples, dtype=np.float32)
    for segment in segments:
        timeline[segment.start_sample : segment.end_sample] = segment.samples

    measured = timeline_loudness_lufs(segments=segments, total_samples=total_samples)

    assert measured == pytest.approx(lufs_of(timeline), abs=0.02)


@pytest.mark.parametrize("peak", [0.99, 0.003])
def test_normalising_hits_the_target_for_loud_and_quiet_speech(
    make_speech: Callable[..., Signal], peak: float
) -> None:
    segments = [
        PlacedAudio(0, make_speech(4.0, peak=peak)),
        PlacedAudio(200_000, make_speech(3.0, peak=peak, seed=2)),
    ]

    normalised = normalise_loudness(
        segments=segments, total_samples=300_000, target_lufs=-23.0, ceiling_dbtp=-1.0
    )

    assert normalised.loudness_lufs == pytest.approx(-23.0, abs=0.1)
    assert normalised.true_peak_dbtp is not None
    assert normalised.true_peak_dbtp <= -1.0
    assert (normalised.gain_db < 0) == (peak > 0.5)


def test_peaky_speech_is_limited_rather_than_left_under_target(
    make_speech: Callable[..., Signal], true_peak_of: Meter
) -> None:
    speech = make_speech(6.0, peak=0.03)
    for click in range(0, speech.size, SAMPLE_RATE_HZ // 2):
        speech[click : click + 3] = 0.9  # plosive-like clicks far above the speech level

    normalised = normalise_loudness(
        segments=[PlacedAudio(0, speech)],
        total_samples=speech.size,
        target_lufs=-16.0,
        ceiling_dbtp=-1.0,
    )

    assert normalised.limiter_reduction_db > 0.0
    assert normalised.loudness_lufs == pytest.approx(-16.0, abs=0.1)
    assert true_peak_of(normalised.segments[0].samples) <= -1.0 + 0.05


def test_silence_gets_no_gain_and_no_loudness() -> None:
    silent = [PlacedAudio(0, np.zeros(SAMPLE_RATE_HZ * 3, dtype=np.float32))]

    normalised = normalise_loudness(
        segments=silent, total_samples=SAMPLE_RATE_HZ * 3, target_lufs=-23.0, ceiling_dbtp=-1.0
    )

    assert (normalised.gain_db, normalised.loudness_lufs, normalised.true_peak_dbtp) == (
        0.0,
        None,
        None,
    )
    assert np.array_equal(normalised.segments[0].samples, silent[0].samples)
