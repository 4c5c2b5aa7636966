"""What `ltb translate` delivers for a dubbing library: the dubbed MP4 and MKV, the mix as
WAV and IMSC TTML subtitles, read back as a player and a loudness meter read them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import pytest

from support.deliverables import (
    decoded_audio,
    duration_s,
    frame_s,
    loudness_lufs,
    subtitle_events,
    top_level_boxes,
    tracks,
    video_packet_sizes,
    wav_loudness_lufs,
)
from support.emulator import Emulator
from support.library import MediaLibrary
from support.translate_checks import translate

TTML_NS = "{http://www.w3.org/ns/ttml}"


@pytest.fixture(scope="module")
def demo_sample() -> Path:
    with resources.as_file(resources.files("ltb").joinpath("data/demo-sample.mp4")) as sample:
        return Path(sample)


def test_a_voiceover_dub_is_delivered_as_mp4_mkv_mix_and_ttml(
    emulator: Emulator, demo_sample: Path, tmp_path: Path
) -> None:
    run = translate(
        emulator,
        demo_sample,
        tmp_path / "out",
        "--target",
        "fr",
        "--source",
        "zh",
        "--outputs",
        "srt,wav,ttml,mix_wav,mp4,mkv",
        "--dub-mix",
        "voiceover",
        "--duck-db",
        "-20",
    )
    assert run.status == 0, run.stderr
    names = {path.name for path in run.out.iterdir() if path.is_file()}
    assert {"dubbed.mp4", "dubbed.mkv", "mix.wav", "subtitles.ttml", "dub.wav"} <= names
    assert not any(name.endswith((".partial", ".flac")) for name in names)
    assert run.manifest["outputs"]["mp4"] == "dubbed.mp4"
    assert run.manifest["job"]["dub_mix"] == "voiceover"
    assert run.manifest["job"]["duck_db"] == -20
    mix = run.manifest["mix"]
    assert (mix["mode"], mix["duck_db"]) == ("voiceover", -20)
    assert mix["loudness_lufs"] == pytest.approx(-23.0, abs=0.05)
    source_s, frame = duration_s(demo_sample), frame_s(demo_sample)
    source_packets = video_packet_sizes(demo_sample)

    for container, codes, subtitle in (
        ("mp4", ("fra", "zho"), "mov_text"),
        ("mkv", ("fre", "chi"), "srt"),  # SubRip, as its decoder names it
    ):
        video = run.out / f"dubbed.{container}"
        found = tracks(video)
        assert [(t.kind, t.codec) for t in found] == [
            ("video", "h264"),
            ("audio", "aac"),
            ("audio", "aac"),
            ("subtitle", subtitle),
        ], container
        _, dub, original, subs = found
        assert (dub.language, dub.title, dub.default) == (codes[0], "French (dub)", True)
        assert (original.language, original.title, original.default) == (
            codes[1],
            "Chinese (original)",
            False,
        )
        assert (subs.language, subs.title) == (codes[0], "French")
        assert subtitle_events(video) > 0
        # Remuxed, not re-encoded: the very same picture packets, and the source's length.
        assert video_packet_sizes(video) == source_packets
        assert abs(duration_s(video) - source_s) <= frame, container
        # The dub mix track is the mix at broadcast loudness (AAC moves it a little).
        samples, rate = decoded_audio(video, 0)
        assert loudness_lufs(samples, rate) == pytest.approx(-23.0, abs=1.0)
    boxes = top_level_boxes(run.out / "dubbed.mp4")
    assert boxes.index("moov") < boxes.index("mdat"), "faststart"

    # mix.wav: the original under the dub, levelled to -23 LUFS, measured independently.
    lufs, rate, channels = wav_loudness_lufs(run.out / "mix.wav")
    assert (rate, channels) == (48_000, 1)  # the demo's soundtrack is mono
    assert lufs == pytest.approx(-23.0, abs=0.3)
    # dub.wav is still the dub alone, at its own 24 kHz.
    _, dub_rate, _ = wav_loudness_lufs(run.out / "dub.wav")
    assert dub_rate == 24_000

    ttml = ET.parse(run.out / "subtitles.ttml").getroot()
    assert ttml.tag == f"{TTML_NS}tt"
    assert ttml.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    paragraphs = ttml.findall(f".//{TTML_NS}p")
    srt = (run.out / "subtitles.srt").read_text(encoding="utf-8")
    assert len(paragraphs) == srt.count(" --> ") > 0


def test_a_replace_mix_is_the_dub_alone_and_the_video_keeps_the_original_after_it(
    emulator: Emulator, media: MediaLibrary, tmp_path: Path
) -> None:
    run = translate(
        emulator, media.landscape_mp4, tmp_path / "out", "--target", "en", "--outputs", "mkv"
    )
    assert run.status == 0, run.stderr
    video = run.out / "dubbed.mkv"
    found = tracks(video)
    assert [t.kind for t in found] == ["video", "audio", "audio", "subtitle"]
    assert found[1].language == "eng" and found[1].default
    # The source language was left to detection: undetermined, which Matroska need not write.
    assert found[2].language in (None, "und")
    assert abs(duration_s(video) - duration_s(media.landscape_mp4)) <= frame_s(media.landscape_mp4)
    assert not (run.out / "dub.wav").exists() and not (run.out / "mix.wav").exists()
    # The manifest still tells where the dub was placed, and how it was mixed.
    assert run.manifest["mix"]["mode"] == "replace" and run.manifest["mix"]["duck_db"] is None
    assert run.manifest["dub"] is not None and any(c["dub"] for c in run.manifest["chunks"])


@pytest.mark.parametrize("kind", ["mp4", "mkv"])
def test_a_video_of_an_audio_only_source_is_refused_before_anything_is_sent(
    emulator: Emulator, media: MediaLibrary, tmp_path: Path, kind: str
) -> None:
    run = translate(
        emulator, media.speech_mp3, tmp_path / "out", "--target", "en", "--outputs", f"srt,{kind}"
    )
    assert run.status == 2
    assert "video_output_needs_video" in run.stderr
    assert "Traceback" not in run.stderr
    assert emulator.ledger() == []


@pytest.mark.parametrize(
    "args",
    [
        ["--dub-mix", "karaoke"],
        ["--dub-mix", "voiceover", "--duck-db", "-41"],
        ["--duck-db", "3"],
    ],
)
def test_a_bad_mix_option_is_refused_with_a_code(
    emulator: Emulator, media: MediaLibrary, tmp_path: Path, args: list[str]
) -> None:
    run = translate(
        emulator, media.landscape_mp4, tmp_path / "out", "--target", "en", "--outputs", "mp4", *args
    )
    assert run.status == 2
    assert "invalid_option" in run.stderr and "Traceback" not in run.stderr
    assert emulator.ledger() == []
