"""Signals for the dub builder's tests: tones shaped like speech, and independent meters."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from pipeline.dub import SAMPLE_RATE_HZ

Signal = npt.NDArray[np.float32]


def speech_like(duration_s: float, *, peak: float, seed: int = 0) -> Signal:
    """Harmonic tones under a syllable-rate envelope, scaled to a given sample peak."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    pitch_hz = 140.0 + 20.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch_hz) / SAMPLE_RATE_HZ
    voiced = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi)), 0.0, None)
    signal = np.asarray(voiced * syllables**0.5, dtype=np.float64)
    scaled: Signal = (signal / np.abs(signal).max() * peak).astype(np.float32)
    return scaled


def measured_lufs(samples: npt.NDArray[np.floating]) -> float:
    """Integrated loudness straight from pyloudnorm, independent of the code under test."""
    meter = pyloudnorm.Meter(SAMPLE_RATE_HZ, block_size=0.4)
    return float(meter.integrated_loudness(samples.astype(np.float64)))


def measured_true_peak_dbtp(samples: npt.NDArray[np.floating]) -> float:
    """True peak by plain 4x oversampling of the whole signal."""
    oversampled = resample_poly(samples.astype(np.float64), 4, 1)
    return float(20 * np.log10(np.abs(oversampled).max()))


@pytest.fixture
def make_speech() -> Callable[..., Signal]:
    """Speech-like test audio: make_speech(duration_s, peak=..., seed=...)."""
    return speech_like


@pytest.fixture
def lufs_of() -> Callable[[npt.NDArray[np.floating]], float]:
    """An integrated-loudness meter that does not share code with the dub builder."""
    return measured_lufs


@pytest.fixture
def true_peak_of() -> Callable[[npt.NDArray[np.floating]], float]:
    """A true-peak meter that does not share code with the dub builder."""
    return measured_true_peak_dbtp
