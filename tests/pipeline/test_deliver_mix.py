"""The dub mix, measured from the file it writes with meters that share no code with it.

Loudness is read by pyloudnorm, true peak by plain 4x oversampling (scipy's resample_poly)
and by the project's own true-peak meter; the duck is read by a lock-in amplifier tuned to
the original's tone, which the dub's tone does not reach.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyloudnorm
import pytest
import soundfile
from scipy.signal import resample_poly

from ltb.timeline import Span
from pipeline.deliver.mix import MIX_RATE_HZ, RAMP_S, DuckEnvelope, mix_dub
from pipeline.dub.true_peak import TruePeakMeter

from support.late_audio import write_late_audio_video

DUB_RATE_HZ = 24_000
DURATION_S = 12.0
SPEECH = (Span(2.0, 4.5), Span(7.0, 9.5))
ORIGINAL_HZ = 100.0
DUB_HZ = 440.0


def _tone(hz: float, seconds: float, rate: int, amplitude: float) -> npt.NDArray[np.float64]:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * hz * t)


def _write_original(
    path: Path, *, rate: int = 44_100, amplitude: float = 0.3, stereo: bool = True
) -> Path:
    tone = _tone(ORIGINAL_HZ, DURATION_S, rate, amplitude)
    samples = np.stack([tone, tone * 0.5], axis=1) if stereo else tone
    soundfile.write(path, samples, rate, subtype="PCM_24")
    return path


def _write_dub(path: Path, spans: tuple[Span, ...] = SPEECH, amplitude: float = 0.5) -> Path:
    """The dub's timeline: a 440 Hz tone where it speaks (faded in and out), silence between."""
    dub = np.zeros(round(DURATION_S * DUB_RATE_HZ))
    fade = round(0.02 * DUB_RATE_HZ)
    for span in spans:
        start, end = round(span.start_s * DUB_RATE_HZ), round(span.end_s * DUB_RATE_HZ)
        burst = _tone(DUB_HZ, span.duration_s, DUB_RATE_HZ, amplitude)[: end - start]
        burst[:fade] *= np.linspace(0, 1, fade)
        burst[-fade:] *= np.linspace(1, 0, fade)
        dub[start:end] = burst
    soundfile.write(path, dub, DUB_RATE_HZ, subtype="PCM_16")
    return path


def _lock_in_amplitude(
    samples: npt.NDArray[np.float64], start_s: float, end_s: float, hz: float = ORIGINAL_HZ
) -> float:
    """The amplitude of a tone (the original's by default) in [start_s, end_s), Hann-windowed."""
    lo, hi = round(start_s * MIX_RATE_HZ), round(end_s * MIX_RATE_HZ)
    piece = samples[lo:hi]
    t = np.arange(lo, hi) / MIX_RATE_HZ
    window = np.hanning(piece.size)
    reference = np.exp(-2j * np.pi * hz * t)
    return float(2 * np.abs(np.sum(piece * window * reference)) / window.sum())


def _true_peak_dbtp(samples: npt.NDArray[np.float64]) -> float:
    oversampled = resample_poly(samples, 4, 1, axis=0)
    return float(20 * np.log10(np.abs(oversampled).max()))


def test_voiceover_ducks_the_original_by_duck_db_while_the_dub_speaks(tmp_path: Path) -> None:
    out = tmp_path / "mix.flac"
    report = mix_dub(
        dub=_write_dub(tmp_path / "dub.wav"),
        original=_write_original(tmp_path / "original.flac"),
        out_path=out,
        mode="voiceover",
        duration_s=DURATION_S,
        speech=SPEECH,
    )
    mixed, rate = soundfile.read(out)
    assert rate == MIX_RATE_HZ and mixed.shape == (round(DURATION_S * MIX_RATE_HZ), 2)
    assert report.channels == 2 and report.duck_db == -15.0
    left = mixed[:, 0]
    open_level = _lock_in_amplitude(left, 0.5, 1.5)
    for span in SPEECH:
        # Well inside the span, past the ramps: the original sits duck_db under its level.
        ducked = _lock_in_amplitude(left, span.start_s + 0.3, span.end_s - 0.3)
        assert 20 * np.log10(ducked / open_level) == pytest.approx(-15.0, abs=0.1)
        after = _lock_in_amplitude(left, span.end_s + RAMP_S + 0.1, span.end_s + RAMP_S + 1.0)
        assert 20 * np.log10(after / open_level) == pytest.approx(0.0, abs=0.1)
    # The dub is in the mix, at one level wherever it speaks.
    dub_levels = [
        _lock_in_amplitude(left, span.start_s + 0.3, span.end_s - 0.3, hz=DUB_HZ) for span in SPEECH
    ]
    assert dub_levels[0] == pytest.approx(dub_levels[1], rel=0.01)
    assert _lock_in_amplitude(left, 0.5, 1.5, hz=DUB_HZ) < dub_levels[0] / 1000


def test_a_custom_duck_level_is_the_drop_measured(tmp_path: Path) -> None:
    out = tmp_path / "mix.flac"
    mix_dub(
        dub=_write_dub(tmp_path / "dub.wav"),
        original=_write_original(tmp_path / "original.flac", stereo=False),
        out_path=out,
        mode="voiceover",
        duration_s=DURATION_S,
        speech=SPEECH,
        duck_db=-6.0,
    )
    mixed, _ = soundfile.read(out)
    assert mixed.ndim == 1
    drop = _lock_in_amplitude(mixed, 2.3, 4.2) / _lock_in_amplitude(mixed, 0.5, 1.5)
    assert 20 * np.log10(drop) == pytest.approx(-6.0, abs=0.1)


def test_the_duck_ramps_without_a_click(tmp_path: Path) -> None:
    """With a silent dub, the mix is the original's tone times the duck envelope.

    A 100 Hz tone of amplitude A moves at most 2*pi*100*A/48000 (0.013 A) from one sample
    to the next. Switching its level by -15 dB at once would jump by up to 0.82 A in one
    sample; the ramps may add only what a 100 ms fade adds, about A/5000 per sample.
    """
    out = tmp_path / "mix.flac"
    report = mix_dub(
        dub=_write_dub(tmp_path / "dub.wav", amplitude=0.0),
        original=_write_original(tmp_path / "original.flac", stereo=False),
        out_path=out,
        mode="voiceover",
        duration_s=DURATION_S,
        speech=SPEECH,
    )
    assert not report.limiter_engaged
    mixed, _ = soundfile.read(out)
    amplitude = _lock_in_amplitude(mixed, 0.5, 1.5)
    # The file's first and last milliseconds hold the resampler's own edge (44.1 -> 48 kHz).
    edge = MIX_RATE_HZ // 100
    largest_step = float(np.abs(np.diff(mixed[edge:-edge])).max())
    smooth_tone_step = 2 * np.pi * ORIGINAL_HZ / MIX_RATE_HZ * amplitude
    assert largest_step <= smooth_tone_step * 1.02 + 2e-6
    # The level at each ramp's edges and middle follows the envelope, with no step.
    envelope = DuckEnvelope(speech=SPEECH, duck_db=-15.0)
    start = round((SPEECH[0].start_s - RAMP_S) * MIX_RATE_HZ)
    gains = envelope.gains(start=start, count=round(2 * RAMP_S * MIX_RATE_HZ))
    assert gains[0] == pytest.approx(1.0, abs=1e-3)
    assert np.abs(np.diff(gains)).max() < 1e-3
    assert gains[round(RAMP_S * MIX_RATE_HZ)] == pytest.approx(10 ** (-15 / 20), rel=1e-3)


@pytest.mark.parametrize("mode", ["replace", "voiceover"])
def test_the_mix_is_at_minus_23_lufs_and_under_minus_1_dbtp(tmp_path: Path, mode: str) -> None:
    out = tmp_path / "mix.flac"
    report = mix_dub(
        dub=_write_dub(tmp_path / "dub.wav", amplitude=0.05),
        original=_write_original(tmp_path / "original.flac", amplitude=0.02),
        out_path=out,
        mode=mode,  # type: ignore[arg-type]
        duration_s=DURATION_S,
        speech=SPEECH,
    )
    mixed, rate = soundfile.read(out)
    loudness = pyloudnorm.Meter(rate).integrated_loudness(mixed)
    assert loudness == pytest.approx(-23.0, abs=0.1)
    assert report.loudness_lufs == pytest.approx(loudness, abs=0.05)
    assert _true_peak_dbtp(mixed) <= -1.0
    assert report.channels == (1 if mode == "replace" else 2)


def test_peaks_the_gain_would_push_over_the_ceiling_are_limited(tmp_path: Path) -> None:
    """Quiet speech with a few loud cracks: bringing it to -23 LUFS pushes the cracks past
    -1 dBTP, so the limiter must take them down while the loudness stays on target."""
    rate = 48_000
    rng = np.random.default_rng(3)
    bed = rng.normal(0.0, 0.003, round(DURATION_S * rate))
    for at_s in (1.0, 5.0, 10.0):
        at = round(at_s * rate)
        bed[at : at + 48] += np.hanning(48) * 0.9
    original = tmp_path / "original.flac"
    soundfile.write(original, bed, rate, subtype="PCM_24")
    out = tmp_path / "mix.flac"
    report = mix_dub(
        dub=_write_dub(tmp_path / "dub.wav", amplitude=0.01),
        original=original,
        out_path=out,
        mode="voiceover",
        duration_s=DURATION_S,
        speech=SPEECH,
    )
    assert report.limiter_engaged
    mixed, _ = soundfile.read(out)
    assert pyloudnorm.Meter(rate).integrated_loudness(mixed) == pytest.approx(-23.0, abs=0.1)
    assert _true_peak_dbtp(mixed) <= -1.0
    project_meter = TruePeakMeter()
    project_meter.feed(mixed.astype(np.float32))
    peak = project_meter.peak_dbtp()
    assert peak is not None and peak <= -1.0


def test_the_mix_lasts_exactly_the_duration_asked_for(tmp_path: Path) -> None:
    # A dub shorter than the source is padded with silence; a longer original is cut.
    out = tmp_path / "mix.flac"
    mix_dub(
        dub=_write_dub(tmp_path / "dub.wav"),
        original=_write_original(tmp_path / "original.flac"),
        out_path=out,
        mode="voiceover",
        duration_s=10.0,
        speech=SPEECH,
    )
    assert soundfile.info(str(out)).frames == 10 * MIX_RATE_HZ
    longer = tmp_path / "longer.flac"
    mix_dub(
        dub=_write_dub(tmp_path / "dub.wav"),
        original=None,
        out_path=longer,
        mode="replace",
        duration_s=15.0,
    )
    mixed, _ = soundfile.read(longer)
    assert mixed.shape == (15 * MIX_RATE_HZ,)
    assert not mixed[round(12.5 * MIX_RATE_HZ) :].any()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "karaoke"}, "unknown dub mix"),
        ({"original": None}, "needs the original"),
        ({"duck_db": 6.0}, "zero or negative"),
        ({"duration_s": 0.0}, "positive time"),
    ],
)
def test_bad_arguments_are_refused(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "dub": _write_dub(tmp_path / "dub.wav"),
        "original": _write_original(tmp_path / "original.flac"),
        "out_path": tmp_path / "mix.flac",
        "mode": "voiceover",
        "duration_s": DURATION_S,
        "speech": SPEECH,
    }
    arguments.update(changes)
    with pytest.raises(ValueError, match=message):
        mix_dub(**arguments)  # type: ignore[arg-type]
    assert not (tmp_path / "mix.flac").exists()


@pytest.mark.slow
def test_memory_stays_flat_for_a_long_source(tmp_path: Path) -> None:
    """Three minutes of stereo: the whole mix as float32 would be 69 MB; a pass holds a few
    2-second blocks."""
    minutes = 3
    seconds = minutes * 60
    original = tmp_path / "original.flac"
    with soundfile.SoundFile(
        original, "w", samplerate=MIX_RATE_HZ, channels=2, subtype="PCM_16", format="FLAC"
    ) as flac:
        for minute in range(minutes):
            tone = _tone(ORIGINAL_HZ, 60.0, MIX_RATE_HZ, 0.2 + 0.01 * minute)
            flac.write(np.stack([tone, tone], axis=1))
    dub = tmp_path / "dub.wav"
    soundfile.write(dub, np.zeros(seconds * DUB_RATE_HZ, dtype=np.int16), DUB_RATE_HZ)
    speech = [Span(float(at), float(at) + 3.0) for at in range(5, seconds - 5, 10)]
    whole_mix_bytes = seconds * MIX_RATE_HZ * 2 * 4

    tracemalloc.start()
    try:
        report = mix_dub(
            dub=dub,
            original=original,
            out_path=tmp_path / "mix.flac",
            mode="voiceover",
            duration_s=float(seconds),
            speech=speech,
        )
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak_bytes < whole_mix_bytes / 5
    assert report.loudness_lufs == pytest.approx(-23.0, abs=0.1)


def test_an_original_whose_sound_starts_after_the_picture_keeps_its_place(
    tmp_path: Path,
) -> None:
    """A source whose audio begins 0.5 s into the picture: the mix is led by 0.5 s of
    silence, so the original stays in sync with the video the muxer copies."""
    source = write_late_audio_video(
        tmp_path / "late-audio.mkv", audio_starts_s=0.5, tone_hz=ORIGINAL_HZ
    )
    out_path = tmp_path / "mix.flac"
    mix_dub(
        dub=_write_dub(tmp_path / "dub.wav", amplitude=0.0),
        original=source,
        out_path=out_path,
        mode="voiceover",
        duration_s=2.0,
    )
    mixed, _ = soundfile.read(out_path)
    onset = int(np.argmax(np.abs(mixed) > 1e-3))
    assert onset / MIX_RATE_HZ == pytest.approx(0.5, abs=0.002)
    assert _lock_in_amplitude(mixed, 0.6, 1.4) > 0.1


class _CountingContainer:
    """A container that counts its decode passes and otherwise is the real one."""

    def __init__(self, container: object, passes: dict[str, int], name: str) -> None:
        self._container, self._passes, self._name = container, passes, name

    def decode(self, *args: object, **kwargs: object) -> object:
        self._passes[self._name] = self._passes.get(self._name, 0) + 1
        return self._container.decode(*args, **kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, attribute: str) -> object:
        return getattr(self._container, attribute)


@pytest.mark.parametrize("limited", [False, True], ids=["levelled", "limited"])
def test_voiceover_decodes_the_original_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limited: bool
) -> None:
    """Measuring the mix and writing it (and rewriting it when the limiter costs loudness)
    read the original's soundtrack from one decode, not one per pass."""
    import contextlib
    from collections.abc import Iterator

    import pipeline.deliver.mix as mix_module

    real_open_media = mix_module.open_media
    passes: dict[str, int] = {}

    @contextlib.contextmanager
    def counting_open_media(path: Path) -> Iterator[object]:
        with real_open_media(path) as container:
            yield _CountingContainer(container, passes, Path(path).name)

    monkeypatch.setattr(mix_module, "open_media", counting_open_media)
    if limited:
        rng = np.random.default_rng(3)
        bed = rng.normal(0.0, 0.003, round(DURATION_S * 48_000))
        for at_s in (1.0, 5.0, 10.0):
            at = round(at_s * 48_000)
            bed[at : at + 48] += np.hanning(48) * 0.9
        original = tmp_path / "original.flac"
        soundfile.write(original, bed, 48_000, subtype="PCM_24")
        dub = _write_dub(tmp_path / "dub.wav", amplitude=0.01)
    else:
        original = _write_original(tmp_path / "original.flac")
        dub = _write_dub(tmp_path / "dub.wav")
    report = mix_dub(
        dub=dub,
        original=original,
        out_path=tmp_path / "mix.flac",
        mode="voiceover",
        duration_s=DURATION_S,
        speech=SPEECH,
    )
    assert report.limiter_engaged is limited and report.passes >= 2
    assert passes == {"original.flac": 1, "dub.wav": 1}
    # Nothing the mix kept between its passes is left beside the result.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dub.wav", "mix.flac", "original.flac"]
