"""dub.wav on the source timeline: format, placement, loudness, overflow."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from scipy.signal import resample_poly

from pipeline.dub import (
    SAMPLE_RATE_HZ,
    DubReport,
    DubRequest,
    place_dubs,
    render_dub,
    samples_from_pcm16,
)

Signal = npt.NDArray[np.float32]
Meter = Callable[[npt.NDArray[np.floating]], float]
SPEECH_FIXTURES = Path(__file__).parents[2] / "fixtures" / "speech"


def _render(
    dubs: list[tuple[float, Signal]], *, timeline_end_s: float, out_path: Path
) -> tuple[DubReport, npt.NDArray[np.float64]]:
    requests = [
        DubRequest(index, anchor_s=anchor_s, duration_s=audio.size / SAMPLE_RATE_HZ)
        for index, (anchor_s, audio) in enumerate(dubs)
    ]
    placements = place_dubs(requests, timeline_end_s=timeline_end_s)
    report = render_dub(
        [(placement, dubs[placement.index][1]) for placement in placements],
        timeline_end_s=timeline_end_s,
        out_path=out_path,
    )
    written, _ = soundfile.read(out_path, dtype="float64")
    return report, written


def _rms(samples: npt.NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0


def _window(
    written: npt.NDArray[np.float64], start_s: float, end_s: float
) -> npt.NDArray[np.float64]:
    return written[round(start_s * SAMPLE_RATE_HZ) : round(end_s * SAMPLE_RATE_HZ)]


def test_dub_wav_is_24khz_mono_pcm16_as_long_as_the_source(
    tmp_path: Path, make_speech: Callable[..., Signal]
) -> None:
    out_path = tmp_path / "dub.wav"

    report, _ = _render(
        [(1.0, make_speech(2.0, peak=0.5))], timeline_end_s=7.123456, out_path=out_path
    )

    info = soundfile.info(str(out_path))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (
        24_000,
        1,
        "PCM_16",
        "WAV",
    )
    assert info.frames == round(7.123456 * 24_000)
    assert report.duration_s == info.frames / 24_000
    assert report.overflow_s == 0.0
    assert not (tmp_path / "dub.wav.partial").exists()


def test_segments_sit_at_their_placements_with_digital_silence_between(
    tmp_path: Path, make_speech: Callable[..., Signal]
) -> None:
    # Dub 1 needs 1.2x to finish by dub 2's anchor at 9 s.
    dubs = [
        (1.0, make_speech(2.0, peak=0.5)),
        (4.0, make_speech(6.0, peak=0.5, seed=1)),
        (9.0, make_speech(2.0, peak=0.5, seed=2)),
    ]

    report, written = _render(dubs, timeline_end_s=12.0, out_path=tmp_path / "dub.wav")

    placements = report.placements
    assert [round(p.speed, 6) for p in placements] == [1.0, 1.2, 1.0]
    assert np.array_equal(_window(written, 0.0, 1.0), np.zeros(SAMPLE_RATE_HZ))
    assert _rms(_window(written, 1.05, 2.95)) > 0.01
    assert not _window(written, 3.0, 4.0).any()
    # The sped-up dub fills its slot right up to the next dub's anchor.
    assert _rms(_window(written, 4.05, 8.8)) > 0.01
    assert _rms(_window(written, 8.95, 9.0)) > 0.001
    assert _rms(_window(written, 9.05, 10.95)) > 0.01
    assert not _window(written, 11.0, 12.0).any()


@pytest.mark.parametrize("peak", [0.99, 0.002], ids=["loud", "quiet"])
def test_result_measures_minus_23_lufs_with_true_peak_under_minus_1_dbtp(
    tmp_path: Path,
    make_speech: Callable[..., Signal],
    peak: float,
    lufs_of: Meter,
    true_peak_of: Meter,
) -> None:
    dubs = [(0.5, make_speech(3.0, peak=peak)), (5.0, make_speech(4.0, peak=peak, seed=3))]

    report, written = _render(dubs, timeline_end_s=10.0, out_path=tmp_path / "dub.wav")

    assert lufs_of(written) == pytest.approx(-23.0, abs=0.5)
    assert true_peak_of(written) <= -1.0 + 0.05
    assert report.loudness_lufs == pytest.approx(-23.0, abs=0.1)
    # The reported gain is the gain the audio actually received.
    placed = _window(written, 0.5, 3.5)
    assert _rms(placed) / _rms(dubs[0][1].astype(np.float64)) == pytest.approx(
        10 ** (report.gain_db / 20), rel=0.01
    )
    assert report.true_peak_dbtp is not None
    assert report.true_peak_dbtp <= -1.0


def test_reported_true_peak_is_the_written_files_with_touching_dubs(
    tmp_path: Path, make_speech: Callable[..., Signal], true_peak_of: Meter
) -> None:
    # Dub 1 is sped up to end exactly where dub 2 starts: their junction is in the file too.
    dubs = [
        (1.0, make_speech(2.0, peak=0.9)),
        (4.0, make_speech(6.0, peak=0.9, seed=1)),
        (9.0, make_speech(2.0, peak=0.9, seed=2)),
    ]

    report, written = _render(dubs, timeline_end_s=12.0, out_path=tmp_path / "dub.wav")

    assert report.placements[1].end_s == report.placements[2].start_s
    assert report.true_peak_dbtp is not None
    # PCM16 rounding moves a -10 dBTP peak by well under 0.01 dB.
    assert report.true_peak_dbtp == pytest.approx(true_peak_of(written), abs=0.01)


def test_real_speech_is_normalised_too(tmp_path: Path, lufs_of: Meter, true_peak_of: Meter) -> None:
    clips = [SPEECH_FIXTURES / "en_0.flac", SPEECH_FIXTURES / "ja_0.flac"]
    if not all(clip.exists() for clip in clips):
        pytest.skip("speech fixtures are not present")
    # The fixtures are 16 kHz; bring them to the provider's 24 kHz, one loud and one soft.
    voices = [
        (resample_poly(soundfile.read(clip, dtype="float32")[0], 3, 2) * gain).astype(np.float32)
        for clip, gain in zip(clips, [3.0, 0.2], strict=True)
    ]

    report, written = _render(
        [(0.5, voices[0]), (5.0, voices[1])], timeline_end_s=15.0, out_path=tmp_path / "dub.wav"
    )

    assert lufs_of(written) == pytest.approx(-23.0, abs=0.5)
    assert true_peak_of(written) <= -1.0 + 0.05
    assert report.overflow_s == 0.0


def test_peaky_dub_is_limited_instead_of_missing_the_target(
    tmp_path: Path, make_speech: Callable[..., Signal], lufs_of: Meter, true_peak_of: Meter
) -> None:
    speech = make_speech(6.0, peak=0.01)
    for click in range(0, speech.size, SAMPLE_RATE_HZ // 2):
        speech[click : click + 3] = 0.9

    report, written = _render([(0.0, speech)], timeline_end_s=6.0, out_path=tmp_path / "dub.wav")

    assert report.limiter_reduction_db > 0.0
    assert lufs_of(written) == pytest.approx(-23.0, abs=0.5)
    assert true_peak_of(written) <= -1.0 + 0.05


def test_silent_dub_gets_no_gain_and_no_loudness(tmp_path: Path) -> None:
    report, written = _render(
        [(1.0, np.zeros(SAMPLE_RATE_HZ * 2, dtype=np.float32))],
        timeline_end_s=4.0,
        out_path=tmp_path / "dub.wav",
    )

    assert (report.gain_db, report.loudness_lufs, report.true_peak_dbtp) == (0.0, None, None)
    assert not written.any()
    assert written.size == 4 * SAMPLE_RATE_HZ


def test_dub_too_short_to_measure_is_written_unchanged(tmp_path: Path) -> None:
    blip = (0.25 * np.sin(np.arange(SAMPLE_RATE_HZ // 5) * 0.3)).astype(np.float32)

    report, written = _render([(1.0, blip)], timeline_end_s=2.0, out_path=tmp_path / "dub.wav")

    assert (report.gain_db, report.loudness_lufs) == (0.0, None)
    placed = _window(written, 1.0, 1.2)
    assert np.allclose(placed, blip, atol=1 / 32_768)


def test_last_dub_running_past_the_end_lengthens_the_file_and_reports_overflow(
    tmp_path: Path, make_speech: Callable[..., Signal]
) -> None:
    out_path = tmp_path / "dub.wav"

    # 5 s of dub from 8 s in a 10 s source: even at 1.25x it ends at 12 s.
    report, written = _render(
        [(8.0, make_speech(5.0, peak=0.5))], timeline_end_s=10.0, out_path=out_path
    )

    assert report.overflow_s == pytest.approx(2.0)
    assert soundfile.info(str(out_path)).frames == 12 * SAMPLE_RATE_HZ
    assert _rms(_window(written, 10.0, 11.9)) > 0.01


def test_provider_pcm_bytes_can_be_rendered_directly(
    tmp_path: Path, make_speech: Callable[..., Signal]
) -> None:
    pcm = (make_speech(2.0, peak=0.5) * 32_767).astype("<i2").tobytes()
    audio_int16 = np.frombuffer(pcm, dtype="<i2")
    (placement,) = place_dubs(
        [DubRequest(0, 1.0, audio_int16.size / SAMPLE_RATE_HZ)], timeline_end_s=4.0
    )

    from_int16 = render_dub(
        [(placement, audio_int16)], timeline_end_s=4.0, out_path=tmp_path / "a.wav"
    )
    from_bytes = render_dub(
        [(placement, samples_from_pcm16(pcm=pcm))], timeline_end_s=4.0, out_path=tmp_path / "b.wav"
    )

    assert from_int16 == from_bytes
    assert np.array_equal(
        soundfile.read(tmp_path / "a.wav")[0], soundfile.read(tmp_path / "b.wav")[0]
    )


def test_report_serialises_to_json_with_every_placement(
    tmp_path: Path, make_speech: Callable[..., Signal]
) -> None:
    report, _ = _render(
        [(0.0, make_speech(6.0, peak=0.5)), (5.0, make_speech(1.0, peak=0.5))],
        timeline_end_s=8.0,
        out_path=tmp_path / "dub.wav",
    )

    payload = json.loads(json.dumps(report.as_dict()))

    assert set(payload) >= {
        "duration_s",
        "overflow_s",
        "loudness_lufs",
        "true_peak_dbtp",
        "gain_db",
        "placements",
    }
    assert [p["index"] for p in payload["placements"]] == [0, 1]
    assert payload["placements"][0]["speed"] == pytest.approx(1.2)


def test_audio_that_does_not_match_its_placement_is_refused(
    tmp_path: Path, make_speech: Callable[..., Signal]
) -> None:
    (placement,) = place_dubs([DubRequest(0, 0.0, 2.0)], timeline_end_s=4.0)

    with pytest.raises(ValueError, match="audio lasts"):
        render_dub(
            [(placement, make_speech(1.0, peak=0.5))],
            timeline_end_s=4.0,
            out_path=tmp_path / "dub.wav",
        )


def test_overlapping_placements_are_refused(
    tmp_path: Path, make_speech: Callable[..., Signal]
) -> None:
    first = place_dubs([DubRequest(0, 0.0, 2.0)], timeline_end_s=4.0)[0]
    second = place_dubs([DubRequest(1, 1.0, 2.0)], timeline_end_s=4.0)[0]

    with pytest.raises(ValueError, match="overlap"):
        render_dub(
            [(first, make_speech(2.0, peak=0.5)), (second, make_speech(2.0, peak=0.5))],
            timeline_end_s=4.0,
            out_path=tmp_path / "dub.wav",
        )


def test_no_dubs_at_all_gives_a_silent_track_of_the_source_length(tmp_path: Path) -> None:
    report = render_dub([], timeline_end_s=3.0, out_path=tmp_path / "dub.wav")

    written, _ = soundfile.read(tmp_path / "dub.wav", dtype="int16")
    assert written.size == 3 * SAMPLE_RATE_HZ
    assert not written.any()
    assert (report.loudness_lufs, report.placements, report.overflow_s) == (None, (), 0.0)
