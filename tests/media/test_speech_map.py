"""speech map: regions found where the speech is, against boundaries known by construction.

Tolerance: 0.16 s. A region edge is quantised to the VAD's 30 ms frames, padded by
100 ms to keep soft consonants, and WebRTC's onset decision may lag one frame:
0.03 + 0.10 + 0.03 = 0.16 s.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from ltb.media.speech_map import SpeechMap, detect_speech, map_speech

from support.library import MediaLibrary
from support.media import RATE_HZ, speech_timeline, write_audio

TOLERANCE_S = 0.16


def _blocks(samples: np.ndarray, size: int = 3000):
    return (samples[i : i + size] for i in range(0, len(samples), size))


def _assert_matches(found: SpeechMap | tuple, truth: tuple[tuple[float, float], ...]) -> None:
    regions = found.regions if isinstance(found, SpeechMap) else found
    # Every true utterance is covered, edge to edge within tolerance...
    for start, end in truth:
        covering = [r for r in regions if r.end_s > start and r.start_s < end]
        assert covering, f"utterance {start:.2f}-{end:.2f} was missed"
        assert covering[0].start_s == pytest.approx(start, abs=TOLERANCE_S)
        assert covering[-1].end_s == pytest.approx(end, abs=TOLERANCE_S)
    # ...and nothing is found where there is only silence.
    for region in regions:
        assert any(
            region.start_s < e + TOLERANCE_S and region.end_s > s - TOLERANCE_S for s, e in truth
        )


def test_regions_match_known_pauses_in_several_languages(media: MediaLibrary) -> None:
    found = map_speech(media.speech_mp3)
    _assert_matches(found, media.speech.speech)
    assert found.duration_s == pytest.approx(media.speech.duration_s, abs=0.01)


def test_a_sub_second_utterance_is_kept(media: MediaLibrary) -> None:
    found = map_speech(media.subsecond_wav)
    assert len(found.regions) == 1
    assert found.regions[0].duration_s < 1.0


def test_speech_is_found_under_moderate_background_noise() -> None:
    timeline = speech_timeline([1.5, "fr_0.flac", 1.0, "ru_0.flac", 1.5], noise_dbfs=-45)
    _assert_matches(
        detect_speech(_blocks(timeline.samples), duration_s=timeline.duration_s), timeline.speech
    )


def test_silence_gives_an_empty_map(media: MediaLibrary) -> None:
    found = map_speech(media.silence_wav)
    assert found.is_empty
    assert found.speech_s == 0
    assert found.duration_s == pytest.approx(5.0)


@pytest.mark.parametrize(
    "signal",
    [
        pytest.param(lambda t: 0.3 * np.sin(2 * np.pi * 440 * t), id="steady tone"),
        pytest.param(
            lambda t: 0.2 * np.sin(2 * np.pi * 50 * t) + 0.1 * np.sin(2 * np.pi * 150 * t),
            id="mains hum",
        ),
        pytest.param(
            lambda t: np.convolve(
                np.random.default_rng(1).normal(0, 0.1, t.size), np.ones(8) / 8, "same"
            ),
            id="coloured noise",
        ),
    ],
)
def test_steady_non_speech_sounds_are_not_speech(signal) -> None:
    t = np.arange(20 * RATE_HZ) / RATE_HZ
    samples = (np.clip(signal(t), -1, 1) * 32767).astype(np.int16)
    regions = detect_speech(_blocks(samples), duration_s=20.0)
    assert sum(r.duration_s for r in regions) < 1.0


def test_block_size_does_not_change_the_result(media: MediaLibrary) -> None:
    samples = media.speech.samples
    a = detect_speech(_blocks(samples, 160), duration_s=media.speech.duration_s)
    b = detect_speech(_blocks(samples, 48_000), duration_s=media.speech.duration_s)
    assert a == b


def test_quiet_points_mark_one_moment_per_second(media: MediaLibrary) -> None:
    found = map_speech(media.speech_wav)
    assert len(found.quiet_points) == pytest.approx(media.speech.duration_s, abs=1)
    assert all(0 <= q.time_s <= found.duration_s for q in found.quiet_points)


def test_decoding_is_streamed_so_memory_stays_flat(tmp_path) -> None:
    # 20 minutes of audio is 38 MB as 16 kHz int16; the streaming pass must hold far less.
    timeline = speech_timeline([1.0, "de_0.flac", 2.0, "es_1.flac"] * 150)
    path = write_audio(tmp_path / "twenty-minutes.flac", timeline)
    del timeline
    tracemalloc.start()
    found = map_speech(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(found.regions) >= 290
    assert peak < 8 * 1024 * 1024
