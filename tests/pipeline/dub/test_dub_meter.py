"""The streaming BS.1770-4 meter: K-weighting, gating, and agreement with pyloudnorm."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyloudnorm
import pytest
import soundfile
from scipy.signal import freqz, resample_poly

from pipeline.dub import SAMPLE_RATE_HZ
from pipeline.dub.meter import LoudnessMeter, gated_loudness_lufs, k_weighting

Signal = npt.NDArray[np.float32]
Meter = Callable[[npt.NDArray[np.floating]], float]
SPEECH_FIXTURES = Path(__file__).parents[2] / "fixtures" / "speech"
# What the task asks of the streaming meter against pyloudnorm.
AGREEMENT_LU = 0.05
# EBU Tech 3341's tolerance for its synthetic test signals.
TECH_3341_LU = 0.1


def _speech_clips() -> list[tuple[str, Signal]]:
    """Every speech fixture, brought from 16 kHz to the provider's 24 kHz."""
    clips = []
    for path in sorted(SPEECH_FIXTURES.glob("*.flac")):
        audio, rate_hz = soundfile.read(path, dtype="float32")
        assert rate_hz == 16_000
        clips.append((path.stem, resample_poly(audio, 3, 2).astype(np.float32)))
    return clips


SPEECH = _speech_clips()
needs_speech = pytest.mark.skipif(not SPEECH, reason="speech fixtures are not present")


def _streamed(samples: npt.NDArray[np.floating], *, chunk: int | None = None) -> float | None:
    meter = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)
    for piece in _chunks(samples, chunk or max(samples.size, 1)):
        meter.feed(piece)
    return meter.integrated_lufs()


def _chunks(samples: npt.NDArray[np.floating], size: int) -> Iterator[npt.NDArray[np.floating]]:
    for start in range(0, samples.size, size):
        yield samples[start : start + size]


def _sine(frequency_hz: float, duration_s: float, *, rms_dbfs: float) -> Signal:
    t = np.arange(round(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    amplitude = math.sqrt(2.0) * 10.0 ** (rms_dbfs / 20.0)
    tone: Signal = (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)
    return tone


def _placed(*pieces: tuple[float, Signal], total_s: float) -> tuple[list[tuple[int, Signal]], int]:
    """Clips at the given start times on a silent timeline, as (start sample, audio)."""
    placed = [(round(start_s * SAMPLE_RATE_HZ), audio) for start_s, audio in pieces]
    return placed, round(total_s * SAMPLE_RATE_HZ)


def _timeline(placed: list[tuple[int, Signal]], total: int) -> Signal:
    timeline = np.zeros(total, dtype=np.float32)
    for start, audio in placed:
        timeline[start : start + audio.size] = audio
    return timeline


def _streamed_timeline(placed: list[tuple[int, Signal]], total: int) -> float | None:
    meter = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)
    cursor = 0
    for start, audio in placed:
        meter.feed_silence(start - cursor)
        meter.feed(audio)
        cursor = start + audio.size
    meter.feed_silence(total - cursor)
    return meter.integrated_lufs()


# --- K-weighting ---------------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [8_000, 11_025, 16_000, 22_050, 24_000, 44_100, 48_000, 96_000])
def test_k_weighting_is_derived_as_pyloudnorm_derives_it_at_any_rate(rate_hz: int) -> None:
    shelf, high_pass = k_weighting(sample_rate_hz=rate_hz)

    reference = pyloudnorm.Meter(rate_hz)._filters
    for mine, theirs in ((shelf, reference["high_shelf"]), (high_pass, reference["high_pass"])):
        assert np.allclose(mine.b, theirs.b, rtol=0, atol=1e-12)
        assert np.allclose(mine.a, theirs.a, rtol=0, atol=1e-12)


def test_k_weighting_at_48khz_is_the_bs1770_table_up_to_the_cookbook_high_pass_scale() -> None:
    shelf, high_pass = k_weighting(sample_rate_hz=48_000)

    # ITU-R BS.1770-4, Tables 1 and 2.
    assert np.allclose(shelf.b, [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=2e-4)
    assert np.allclose(shelf.a, [1.0, -1.69065929318241, 0.73248077421585], atol=2e-4)
    assert np.allclose(high_pass.a, [1.0, -1.99004745483398, 0.99007225036621], atol=2e-4)
    # The table's numerator is [1, -2, 1]; the cookbook design scales it by about 0.995.
    assert np.allclose(np.array(high_pass.b) / high_pass.b[0], [1.0, -2.0, 1.0])
    assert high_pass.b[0] == pytest.approx(0.995, abs=0.001)


# --- EBU Tech 3341 style signals -----------------------------------------------------------
#
# Tech 3341 plays its 1 kHz sines in both channels of a stereo pair. BS.1770 adds the
# channels' powers, so the mono signal with the same power has the pair's RMS level: a sine
# whose RMS is L dBFS, amplitude sqrt(2) * 10**(L / 20). Its K-weighted mean square is
# (RMS**2) * |H(1 kHz)|**2, so it reads L + 10*log10(|H(1 kHz)|**2) - 0.691 LUFS.
#
# With the cookbook K-weighting at 24 kHz, |H(1 kHz)|**2 is +0.644 dB, so a sine at -23 dBFS
# RMS reads -23.047 LUFS: inside Tech 3341's +-0.1 LU of -23.0. (BS.1770's tabulated filters
# put it at -23.00; the 0.04 LU is the high-pass numerator scale tested above.)


def _k_weighted_gain_db(frequency_hz: float) -> float:
    power = 1.0
    for stage in k_weighting(sample_rate_hz=SAMPLE_RATE_HZ):
        _, response = freqz(stage.b, stage.a, worN=[frequency_hz], fs=SAMPLE_RATE_HZ)
        power *= abs(response[0]) ** 2
    return 10.0 * math.log10(power)


def test_1khz_sine_at_minus_23_dbfs_rms_reads_minus_23_lufs() -> None:
    expected = -23.0 + _k_weighted_gain_db(1_000.0) - 0.691
    assert expected == pytest.approx(-23.047, abs=0.001)

    loudness = _streamed(_sine(1_000.0, 20.0, rms_dbfs=-23.0))

    assert loudness == pytest.approx(expected, abs=0.005)
    assert loudness == pytest.approx(-23.0, abs=TECH_3341_LU)


def _levels(*steps: tuple[float, float]) -> Signal:
    """A continuous 1 kHz sine whose RMS level steps through (duration_s, rms_dbfs)."""
    total = sum(round(duration_s * SAMPLE_RATE_HZ) for duration_s, _ in steps)
    sine = np.sin(2 * np.pi * 1_000.0 * np.arange(total) / SAMPLE_RATE_HZ)
    amplitude = np.concatenate(
        [
            np.full(round(duration_s * SAMPLE_RATE_HZ), math.sqrt(2.0) * 10.0 ** (dbfs / 20.0))
            for duration_s, dbfs in steps
        ]
    )
    stepped: Signal = (sine * amplitude).astype(np.float32)
    return stepped


@pytest.mark.parametrize(
    ("steps", "expected_lufs"),
    [
        # Case 1 and case 2: steady tones read their level.
        (((20.0, -23.0),), -23.0),
        (((20.0, -33.0),), -33.0),
        # Case 3: the -36 dBFS ends fall under the relative gate (about -34 LUFS here).
        (((10.0, -36.0), (60.0, -23.0), (10.0, -36.0)), -23.0),
        # Case 4: -72 dBFS is under the absolute gate as well.
        (((10.0, -72.0), (10.0, -36.0), (60.0, -23.0), (10.0, -36.0), (10.0, -72.0)), -23.0),
        # Case 5: nothing is gated; the power average of -26 / -20 / -26 dBFS is -23.0.
        (((20.0, -26.0), (20.1, -20.0), (20.0, -26.0)), -23.0),
    ],
    ids=["case1", "case2", "case3", "case4", "case5"],
)
def test_ebu_tech_3341_cases_read_their_expected_loudness(
    steps: tuple[tuple[float, float], ...], expected_lufs: float, lufs_of: Meter
) -> None:
    signal = _levels(*steps)

    loudness = _streamed(signal, chunk=48_000)

    assert loudness == pytest.approx(expected_lufs, abs=TECH_3341_LU)
    assert loudness == pytest.approx(lufs_of(signal), abs=AGREEMENT_LU)


# --- Agreement with pyloudnorm -------------------------------------------------------------


@needs_speech
@pytest.mark.parametrize(("name", "clip"), SPEECH, ids=[name for name, _ in SPEECH])
def test_speech_fixture_on_a_timeline_agrees_with_pyloudnorm(
    name: str, clip: Signal, lufs_of: Meter
) -> None:
    placed, total = _placed((0.5, clip), total_s=0.5 + clip.size / SAMPLE_RATE_HZ + 1.0)

    loudness = _streamed_timeline(placed, total)

    assert loudness == pytest.approx(lufs_of(_timeline(placed, total)), abs=AGREEMENT_LU)


@needs_speech
@pytest.mark.parametrize(("name", "clip"), SPEECH, ids=[name for name, _ in SPEECH])
def test_speech_fixture_alone_agrees_with_pyloudnorm_on_whole_blocks(
    name: str, clip: Signal, lufs_of: Meter
) -> None:
    # Cut to whole 100 ms steps: pyloudnorm rounds its block count, and where a clip ends
    # mid-step it also measures an incomplete last block, which BS.1770 leaves out.
    whole = clip[: clip.size - clip.size % (SAMPLE_RATE_HZ // 10)]
    if whole.size < 0.4 * SAMPLE_RATE_HZ:
        pytest.skip(f"{name} is shorter than one gating block")

    assert _streamed(whole, chunk=5_000) == pytest.approx(lufs_of(whole), abs=AGREEMENT_LU)


@needs_speech
def test_speech_at_mixed_levels_with_long_silent_gaps_agrees_with_pyloudnorm(
    lufs_of: Meter,
) -> None:
    # Quiet clips 15-25 dB down sit under the relative gate; gaps of up to a minute let the
    # filters ring out, so most silence is counted rather than filtered.
    gains_db = [0.0, -15.0, 3.0, -25.0, -6.0, 0.0, -18.0, 2.0]
    gaps_s = [0.3, 4.0, 60.0, 0.0, 45.0, 0.123, 0.01, 30.0]
    pieces = []
    cursor_s = 0.0
    for gap_s, gain_db, (_, clip) in zip(gaps_s, gains_db, SPEECH, strict=False):
        pieces.append((cursor_s + gap_s, (clip * 10.0 ** (gain_db / 20.0)).astype(np.float32)))
        cursor_s += gap_s + clip.size / SAMPLE_RATE_HZ + 0.001
    placed, total = _placed(*pieces, total_s=cursor_s + 20.0)

    loudness = _streamed_timeline(placed, total)

    assert loudness == pytest.approx(lufs_of(_timeline(placed, total)), abs=AGREEMENT_LU)


@pytest.mark.parametrize("frequency_hz", [40.0, 100.0, 997.0, 3_000.0, 8_000.0, 11_000.0])
@pytest.mark.parametrize("rms_dbfs", [-60.0, -40.0, -23.0, -9.0, -3.0])
def test_sine_tones_agree_with_pyloudnorm(
    frequency_hz: float, rms_dbfs: float, lufs_of: Meter
) -> None:
    tone = _sine(frequency_hz, 3.0, rms_dbfs=rms_dbfs)

    assert _streamed(tone, chunk=7_001) == pytest.approx(lufs_of(tone), abs=AGREEMENT_LU)


@pytest.mark.parametrize("colour", ["white", "brown"])
@pytest.mark.parametrize("level_dbfs", [-60.0, -30.0, -12.0])
def test_noise_agrees_with_pyloudnorm(colour: str, level_dbfs: float, lufs_of: Meter) -> None:
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(SAMPLE_RATE_HZ * 6)
    if colour == "brown":
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(2_401) / 2_401, mode="same")  # keep it off DC
    noise *= 10.0 ** (level_dbfs / 20.0) / np.sqrt(np.mean(noise**2))
    signal = noise.astype(np.float32)

    assert _streamed(signal, chunk=65_537) == pytest.approx(lufs_of(signal), abs=AGREEMENT_LU)


@pytest.mark.parametrize("chunk", [1, 7, 1_000, 2_399, 2_401, 3_333, 65_537, 100_003])
def test_feed_sizes_that_do_not_divide_100ms_read_the_same(
    make_speech: Callable[..., Signal], chunk: int, lufs_of: Meter
) -> None:
    # Feeding sample by sample is slow, so the smallest feeds get shorter speech.
    duration_s = {1: 0.5, 7: 1.0}.get(chunk, 9.7)
    speech = make_speech(duration_s, peak=0.4, seed=chunk)

    loudness = _streamed(speech, chunk=chunk)

    assert loudness == pytest.approx(_streamed(speech), abs=1e-9)
    assert loudness == pytest.approx(lufs_of(speech), abs=AGREEMENT_LU)


@pytest.mark.parametrize("rate_hz", [11_025, 44_100, 48_000])
def test_other_sample_rates_agree_with_pyloudnorm(rate_hz: int) -> None:
    # 11,025 Hz has no whole number of samples in 100 ms.
    rng = np.random.default_rng(rate_hz)
    t = np.arange(rate_hz * 5) / rate_hz
    signal = 0.1 * np.sin(2 * np.pi * 440.0 * t) * (1.0 + np.sin(2 * np.pi * 3.0 * t))
    signal += 0.01 * rng.standard_normal(t.size)
    meter = LoudnessMeter(sample_rate_hz=rate_hz)
    for piece in _chunks(signal, 3_001):
        meter.feed(piece)

    reference = pyloudnorm.Meter(rate_hz, block_size=0.4).integrated_loudness(signal)
    assert meter.integrated_lufs() == pytest.approx(reference, abs=AGREEMENT_LU)


# --- Gating and silence --------------------------------------------------------------------


def test_silence_fed_as_a_count_measures_as_silence_fed_as_samples(
    make_speech: Callable[..., Signal],
) -> None:
    speech = make_speech(3.0, peak=0.6)
    counted = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)
    filtered = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)
    # Gaps that start and end mid-step, one shorter than the filters' ring-out.
    for gap in (12_345, 1_000, 250_001):
        counted.feed(speech)
        counted.feed_silence(gap)
        filtered.feed(speech)
        filtered.feed(np.zeros(gap, dtype=np.float32))

    assert counted.samples_fed == filtered.samples_fed
    assert np.allclose(
        counted.subblock_mean_squares(), filtered.subblock_mean_squares(), rtol=1e-9, atol=1e-18
    )
    assert counted.integrated_lufs() == pytest.approx(filtered.integrated_lufs(), abs=1e-9)


def test_two_hours_of_silence_cost_one_float_per_100ms(make_speech: Callable[..., Signal]) -> None:
    speech = make_speech(5.0, peak=0.5)
    meter = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)

    meter.feed(speech)
    meter.feed_silence(2 * 60 * 60 * SAMPLE_RATE_HZ)

    assert meter.subblock_mean_squares().size == 72_000 + 50
    # Blocks wholly in silence fall under the absolute gate: two hours read as one second.
    one_second = np.concatenate([speech, np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)])
    assert meter.integrated_lufs() == pytest.approx(_streamed(one_second), abs=1e-9)


def test_incomplete_final_block_is_not_measured() -> None:
    # BS.1770 measures complete gating blocks only, so a steady tone reads the same however
    # far past the last complete block it runs (pyloudnorm's reading moves here).
    readings = [
        _streamed(_sine(1_000.0, duration_s, rms_dbfs=-20.0)) for duration_s in (0.5, 0.55, 0.59)
    ]

    assert readings[0] is not None
    assert readings == pytest.approx([readings[0]] * 3, abs=1e-3)


def test_too_short_too_quiet_or_silent_audio_has_no_loudness() -> None:
    assert _streamed(_sine(1_000.0, 0.39, rms_dbfs=-20.0)) is None
    assert _streamed(_sine(1_000.0, 3.0, rms_dbfs=-75.0)) is None
    assert _streamed(np.zeros(SAMPLE_RATE_HZ * 3, dtype=np.float32)) is None
    assert LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ).integrated_lufs() is None


def test_scaled_mean_squares_read_as_the_gained_audio_gates_included() -> None:
    # Steps at -60, -72 and -80 dBFS: +5 dB lifts the middle step over the absolute gate and
    # it then passes the relative gate too, so the reading moves by more than the gain.
    steps = _levels((3.0, -60.0), (3.0, -72.0), (3.0, -80.0))
    meter = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)
    meter.feed(steps)
    unscaled = meter.integrated_lufs()
    gain = 10.0 ** (5.0 / 20.0)

    scaled = gated_loudness_lufs(subblock_mean_squares=meter.subblock_mean_squares() * gain**2)

    assert scaled == pytest.approx(_streamed(steps * np.float32(gain)), abs=1e-4)
    assert unscaled is not None
    assert scaled is not None
    assert scaled < unscaled + 5.0 - 1.0


def test_the_meter_refuses_what_it_cannot_measure() -> None:
    meter = LoudnessMeter(sample_rate_hz=SAMPLE_RATE_HZ)

    with pytest.raises(ValueError, match="mono"):
        meter.feed(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="negative"):
        meter.feed_silence(-1)
    with pytest.raises(ValueError, match="positive"):
        k_weighting(sample_rate_hz=0)
