"""Pitch-preserving time stretch through ffmpeg's atempo."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from pipeline.dub import SAMPLE_RATE_HZ
from pipeline.dub.stretch import stretch_to_length


def _tone(frequency_hz: float, duration_s: float) -> npt.NDArray[np.float32]:
    t = np.arange(round(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    return (0.5 * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def _dominant_hz(samples: npt.NDArray[np.float32]) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE_HZ)[np.argmax(spectrum)])


def _last_audible_sample(samples: npt.NDArray[np.float32]) -> int:
    return int(np.flatnonzero(np.abs(samples) > 0.01)[-1])


def test_sped_up_sine_keeps_its_pitch_and_shrinks_to_one_over_speed() -> None:
    tone = _tone(1_000.0, 2.0)

    # Room for the whole input shows where the stretched audio really ends.
    stretched = stretch_to_length(samples=tone, speed=1.25, length=tone.size)

    expected_end = tone.size / 1.25
    assert _last_audible_sample(stretched) == pytest.approx(expected_end, abs=0.01 * expected_end)
    sounding = stretched[: round(expected_end)]
    assert _dominant_hz(sounding) == pytest.approx(1_000.0, rel=0.02)
    assert np.abs(stretched[round(expected_end) + 240 :]).max() == 0.0


@pytest.mark.parametrize("speed", [1.1, 1.2, 1.37, 1.5])
def test_stretch_maps_time_linearly_at_every_speed(speed: float) -> None:
    # 500 Hz for the first second, 1500 Hz after: the switch must land at 1 s / speed.
    source = np.concatenate([_tone(500.0, 1.0), _tone(1_500.0, 1.0)])

    stretched = stretch_to_length(samples=source, speed=speed, length=round(source.size / speed))

    switch = round(SAMPLE_RATE_HZ / speed)
    window = SAMPLE_RATE_HZ // 10
    assert _dominant_hz(stretched[switch - 2 * window : switch - window]) == pytest.approx(
        500, rel=0.02
    )
    assert _dominant_hz(stretched[switch + window : switch + 2 * window]) == pytest.approx(
        1_500, rel=0.02
    )
    assert stretched.size == round(source.size / speed)


def test_unit_speed_leaves_the_audio_untouched() -> None:
    tone = _tone(440.0, 0.5)

    assert np.array_equal(stretch_to_length(samples=tone, speed=1.0, length=tone.size), tone)


def test_result_is_trimmed_or_padded_to_the_requested_length() -> None:
    tone = _tone(440.0, 0.5)

    padded = stretch_to_length(samples=tone, speed=1.0, length=tone.size + 100)
    trimmed = stretch_to_length(samples=tone, speed=1.2, length=1_000)

    assert padded.size == tone.size + 100
    assert np.array_equal(padded[tone.size :], np.zeros(100, dtype=np.float32))
    assert trimmed.size == 1_000


def test_dub_shorter_than_atempo_window_still_comes_out_audible() -> None:
    blip = _tone(1_000.0, 0.02)  # atempo alone emits nothing for this

    stretched = stretch_to_length(samples=blip, speed=1.25, length=round(blip.size / 1.25))

    assert np.abs(stretched).max() > 0.25


def test_empty_input_gives_silence_of_the_requested_length() -> None:
    stretched = stretch_to_length(samples=np.zeros(0, dtype=np.float32), speed=1.2, length=10)

    assert np.array_equal(stretched, np.zeros(10, dtype=np.float32))


@pytest.mark.parametrize("speed", [0.5, 0.99, 2.5])
def test_slowing_down_or_extreme_speed_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        stretch_to_length(samples=_tone(440.0, 0.1), speed=speed, length=100)
