"""What `ltb translate` writes: strict subtitles in several languages, a dub on the
source's timeline, and refusals before anything is spent."""

from __future__ import annotations

import itertools
import shutil

import pytest
import soundfile

from support.emulator import Emulator
from support.library import MediaLibrary
from support.translate_checks import assert_books_balance, read_srt_strictly, translate


@pytest.mark.parametrize("target", ["en", "zh", "ja", "th", "ar"])
def test_srt_is_strict_and_conformance_is_reported(
    emulator: Emulator, media: MediaLibrary, tmp_path, target: str
) -> None:
    run = translate(
        emulator,
        media.speech_mp3,
        tmp_path / "out",
        "--target",
        target,
        "--outputs",
        "text,srt,vtt",
    )
    assert run.status == 0, run.stderr
    cues = read_srt_strictly((run.out / "subtitles.srt").read_bytes())
    assert cues, "speech gives subtitles"
    assert cues[-1][1] <= media.speech.duration_s + 1e-3
    vtt = (run.out / "subtitles.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\n") and vtt.count(" --> ") == len(cues)
    figures = run.manifest["subtitles"]
    assert figures["cue_count"] == len(cues)
    # The rules a translation can always meet are met; the others are measured honestly.
    assert figures["max_lines"] == 1.0
    assert figures["max_chars_per_line"] == 1.0
    assert figures["max_duration"] == 1.0
    assert 0.0 <= figures["reading_speed"] <= 1.0
    text = (run.out / "translation.txt").read_text(encoding="utf-8")
    assert text.strip() and not (run.out / "dub.wav").exists()


def test_dub_is_pcm16_24khz_mono_exactly_as_long_as_the_source(
    emulator: Emulator, media: MediaLibrary, tmp_path
) -> None:
    run = translate(
        emulator,
        media.speech_mp3,
        tmp_path / "out",
        "--target",
        "es",
        "--max-speed",
        "1.2",
        env={"LTB_TARGET_CHUNK_S": "5"},
    )
    assert run.status == 0, run.stderr
    info = soundfile.info(str(run.out / "dub.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (24_000, 1, "PCM_16")
    manifest = run.manifest
    if manifest["dub"]["overflow_s"] == 0:
        assert info.frames == round(media.speech.duration_s * 24_000)
    placed = sorted((c["dub"] for c in manifest["chunks"] if c["dub"]), key=lambda d: d["start_s"])
    assert len(placed) >= 2
    for before, after in itertools.pairwise(placed):
        assert before["end_s"] <= after["start_s"] + 1e-3, "dubs never overlap"
    assert all(1.0 <= d["speed"] <= 1.2 for d in placed)
    assert manifest["dub"]["max_speed_used"] <= 1.2
    assert manifest["dub"]["loudness_lufs"] == pytest.approx(-23.0, abs=0.5)
    assert manifest["dub"]["true_peak_dbtp"] <= -1.0 + 0.05


def test_video_with_visual_context_bills_video_tokens_and_balances(
    emulator: Emulator, media: MediaLibrary, tmp_path
) -> None:
    run = translate(
        emulator,
        media.portrait_5994_mp4,
        tmp_path / "out",
        "--target",
        "ko",
        "--visual-context",
        "on",
    )
    assert run.status == 0, run.stderr
    manifest = run.manifest
    assert manifest["totals"]["by_kind"]["input_video"] > 0
    assert (
        manifest["totals"]["by_kind"]["input_video"]
        == manifest["estimate"]["by_kind"]["input_video"]
    )
    assert manifest["job"]["visual_context"] == "on"
    assert_books_balance(manifest, emulator.ledger())


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--target", "th", "--outputs", "text,wav"], "audio_output_unsupported"),
        (["--target", "en", "--voice", "Kiki"], "voice_unsupported"),
        (["--target", "xx"], "unknown_language"),
        (["--target", "en", "--source", "klingon"], "unknown_language"),
    ],
)
def test_refusals_exit_2_with_a_code_and_spend_nothing(
    emulator: Emulator, media: MediaLibrary, tmp_path, args: list[str], code: str
) -> None:
    run = translate(emulator, media.speech_wav, tmp_path / "out", *args)
    assert run.status == 2
    assert code in run.stderr
    assert "Traceback" not in run.stderr
    assert emulator.ledger() == []


def test_a_silent_file_ends_cleanly_with_nothing_billed(
    emulator: Emulator, media: MediaLibrary, tmp_path
) -> None:
    run = translate(emulator, media.silence_wav, tmp_path / "out", "--target", "en")
    assert run.status == 0, run.stderr
    assert "No speech found" in run.stdout
    manifest = run.manifest
    assert manifest["outcome"] == "no_speech"
    assert manifest["totals"]["requests"] == 0 and manifest["cost"]["amount"] == 0
    assert emulator.ledger() == []
    assert read_srt_strictly((run.out / "subtitles.srt").read_bytes()) == []
    assert soundfile.info(str(run.out / "dub.wav")).frames == 5 * 24_000


def test_bad_media_exits_2_with_its_code(emulator: Emulator, media: MediaLibrary, tmp_path) -> None:
    run = translate(emulator, media.text_mp4, tmp_path / "out", "--target", "en")
    assert run.status == 2 and "unsupported_media" in run.stderr
    assert emulator.ledger() == []


def test_bad_media_is_named_as_the_user_gave_it(
    emulator: Emulator, media: MediaLibrary, tmp_path
) -> None:
    source = tmp_path / "lib" / "broken.mp4"
    source.parent.mkdir()
    shutil.copyfile(media.truncated_mp4, source)
    # Wide enough that the terminal never folds the path.
    run = translate(emulator, source, tmp_path / "out", "--target", "en", env={"COLUMNS": "1000"})
    assert run.status == 2 and "unsupported_media" in run.stderr
    assert str(source) in run.stderr


def test_paths_that_look_like_markup_are_printed_as_they_are(
    emulator: Emulator, media: MediaLibrary, tmp_path
) -> None:
    out = tmp_path / "take [/b] 2"
    run = translate(
        emulator,
        media.speech_wav,
        out,
        "--target",
        "en",
        "--outputs",
        "text",
        env={"COLUMNS": "1000"},
    )
    assert run.status == 0, run.stderr
    assert str(out / "translation.txt") in run.stdout
    assert "Answered by the emulator" in run.stdout
