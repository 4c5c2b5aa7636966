"""The dubbed video, read back track by track with PyAV: codecs, languages, titles,
dispositions, subtitle texts and times, duration, faststart, and a video stream that is
the source's, packet for packet."""

from __future__ import annotations

import hashlib
import struct
import time
from fractions import Fraction
from importlib import resources
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from ltb.errors import RequestRefused
from ltb.timeline import Span
from pipeline.deliver.mix import mix_dub
from pipeline.deliver.mux import mux_dubbed_video, require_video
from pipeline.subtitles import Cue

from support.late_audio import write_late_audio_video
from support.library import MediaLibrary

TARGET_CUES = [
    Cue(1.0, 2.5, ("Bonjour,", "tout le monde.")),
    Cue(3.0, 5.0, ("Deuxième réplique.",)),
]
SOURCE_CUES = [Cue(1.2, 2.8, ("大家好。",)), Cue(3.1, 4.9, ("第二句。",))]


@pytest.fixture(scope="module")
def demo_sample() -> Path:
    with resources.as_file(resources.files("ltb").joinpath("data/demo-sample.mp4")) as sample:
        return Path(sample)


def _mix_file(path: Path, *, seconds: float, channels: int = 2) -> Path:
    t = np.arange(round(seconds * 48_000)) / 48_000
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)
    soundfile.write(path, np.stack([tone] * channels, axis=1), 48_000, subtype="PCM_24")
    return path


def _duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / av.time_base


def _frame_s(path: Path) -> float:
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        assert rate
        return float(1 / Fraction(rate))


def _video_packet_digests(path: Path) -> list[tuple[int | None, str]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (
                round(float(packet.pts * stream.time_base) * 1000)
                if packet.pts is not None
                else None,
                hashlib.sha256(bytes(packet)).hexdigest(),
            )
            for packet in container.demux(stream)
            if packet.size
        ]


def _subtitles(path: Path, index: int) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) of every non-empty event on the index-th subtitle track."""
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[index]
        events = []
        for packet in container.demux(stream):
            payload = bytes(packet)
            if packet.pts is None or not payload:
                continue
            if stream.codec_context.name == "mov_text":
                (length,) = struct.unpack(">H", payload[:2])
                payload = payload[2 : 2 + length]
            if not payload:
                continue  # mov_text marks the gaps between cues with empty samples
            start = round(float(packet.pts * stream.time_base) * 1000)
            end = start + round(float(packet.duration * stream.time_base) * 1000)
            events.append((start, end, payload.decode("utf-8")))
        return events


def _track_title(stream: av.stream.Stream, container: str) -> str | None:
    # Matroska keeps a track's title as such; MP4 readers show the handler name.
    key = "title" if container == "mkv" else "handler_name"
    return stream.metadata.get(key)


EXPECTED = {
    "mp4": {"fr": "fra", "zh": "zho", "subtitle": "mov_text"},
    "mkv": {"fr": "fre", "zh": "chi", "subtitle": "srt"},  # SubRip, as its decoder names it
}


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_every_track_is_tagged_and_the_video_is_the_sources(
    tmp_path: Path, demo_sample: Path, container: str
) -> None:
    out = tmp_path / f"dubbed.{container}"
    report = mux_dubbed_video(
        source=demo_sample,
        dub_mix=_mix_file(tmp_path / "mix.wav", seconds=_duration_s(demo_sample)),
        out_path=out,
        container=container,  # type: ignore[arg-type]
        target_lang="fr",
        source_lang="zh",
        target_cues=TARGET_CUES,
        source_cues=SOURCE_CUES,
    )
    expected = EXPECTED[container]
    with av.open(str(out)) as read:
        kinds = [(stream.type, stream.codec_context.name) for stream in read.streams]
        assert kinds == [
            ("video", "h264"),
            ("audio", "aac"),
            ("audio", "aac"),
            ("subtitle", expected["subtitle"]),
            ("subtitle", expected["subtitle"]),
        ]
        _, dub, original, target_subs, source_subs = read.streams
        default = av.stream.Disposition.default
        assert dub.metadata["language"] == expected["fr"]
        assert _track_title(dub, container) == "French (dub)"
        assert dub.disposition & default
        assert dub.codec_context.sample_rate == 48_000
        assert original.metadata["language"] == expected["zh"]
        assert _track_title(original, container) == "Chinese (original)"
        assert not original.disposition & default
        assert target_subs.metadata["language"] == expected["fr"]
        assert _track_title(target_subs, container) == "French"
        assert source_subs.metadata["language"] == expected["zh"]
        assert _track_title(source_subs, container) == "Chinese"
        assert not source_subs.disposition & default
        if container == "mkv":
            # Matroska can say more: the dub is a dub, the original the original, and no
            # subtitle track switches itself on over a dub that already speaks its language.
            assert dub.disposition & av.stream.Disposition.dub
            assert original.disposition & av.stream.Disposition.original
            assert not target_subs.disposition & default
        # MP4 has no "off" for a track kind: the muxer enables the first subtitle track.
    assert [(t.kind, t.language, t.title, t.default) for t in report.tracks] == [
        ("video", None, None, False),
        ("audio", expected["fr"], "French (dub)", True),
        ("audio", expected["zh"], "Chinese (original)", False),
        ("subtitle", expected["fr"], "French", False),
        ("subtitle", expected["zh"], "Chinese", False),
    ]
    # A remux: the same compressed video, packet for packet, at the same times.
    assert _video_packet_digests(out) == _video_packet_digests(demo_sample)
    assert report.tracks[0].copied
    assert abs(_duration_s(out) - _duration_s(demo_sample)) <= _frame_s(demo_sample)
    assert _subtitles(out, 0) == [
        (1000, 2500, "Bonjour,\ntout le monde."),
        (3000, 5000, "Deuxième réplique."),
    ]
    assert _subtitles(out, 1) == [(1200, 2800, "大家好。"), (3100, 4900, "第二句。")]


def _top_level_boxes(path: Path) -> list[str]:
    boxes = []
    with path.open("rb") as file:
        while header := file.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                (size,) = struct.unpack(">Q", file.read(8))
                file.seek(size - 16, 1)
            else:
                file.seek(size - 8, 1)
            boxes.append(kind.decode("ascii"))
            if size == 0:
                break
    return boxes


def test_mp4_is_faststart(tmp_path: Path, demo_sample: Path) -> None:
    out = tmp_path / "dubbed.mp4"
    mux_dubbed_video(
        source=demo_sample,
        dub_mix=_mix_file(tmp_path / "mix.wav", seconds=5.0, channels=1),
        out_path=out,
        container="mp4",
        target_lang="en",
        source_lang=None,
        target_cues=TARGET_CUES,
    )
    boxes = _top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_cantonese_is_tagged_with_its_iso_639_3_code_and_unknown_as_und(
    tmp_path: Path, demo_sample: Path, container: str
) -> None:
    out = tmp_path / f"dubbed.{container}"
    report = mux_dubbed_video(
        source=demo_sample,
        dub_mix=_mix_file(tmp_path / "mix.wav", seconds=3.0, channels=1),
        out_path=out,
        container=container,  # type: ignore[arg-type]
        target_lang="yue",
        source_lang=None,
        target_cues=TARGET_CUES,
    )
    with av.open(str(out)) as read:
        languages = [s.metadata.get("language") for s in read.streams.audio]
        if container == "mkv":
            # The Matroska reader leaves "und" out of the metadata; the file says it (the
            # Language element, ID 22 B5 9C, three bytes), rather than letting the
            # format's default, English, stand.
            assert languages == ["yue", None]
            assert b"\x22\xb5\x9c\x83und" in out.read_bytes()
        else:
            assert languages == ["yue", "und"]
        assert [s.metadata.get("language") for s in read.streams.subtitles] == ["yue"]
        assert _track_title(read.streams.audio[1], container) == "Unknown language (original)"
    # A dub shorter than the source leaves the picture's length alone.
    assert abs(report.duration_s - _duration_s(demo_sample)) < 1e-6
    assert abs(_duration_s(out) - _duration_s(demo_sample)) <= _frame_s(demo_sample)


@pytest.mark.slow
@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_speech_video_is_mixed_and_muxed_end_to_end(
    tmp_path: Path, media: MediaLibrary, container: str
) -> None:
    """The library's 25 fps speech video: its soundtrack ducked under a dub, then muxed."""
    source = media.tiny_mp4
    duration_s = _duration_s(source)
    dub = np.zeros(round(duration_s * 24_000), dtype=np.float32)
    speech = [Span(start, end) for start, end in media.speech.speech]
    for span in speech:
        lo, hi = round(span.start_s * 24_000), round(span.end_s * 24_000)
        dub[lo:hi] = 0.3 * np.sin(2 * np.pi * 220 * np.arange(hi - lo) / 24_000)
    soundfile.write(tmp_path / "dub.wav", dub, 24_000, subtype="PCM_16")
    mix = tmp_path / "mix.flac"
    mixed = mix_dub(
        dub=tmp_path / "dub.wav",
        original=source,
        out_path=mix,
        mode="voiceover",
        duration_s=duration_s,
        speech=speech,
    )
    assert mixed.loudness_lufs == pytest.approx(-23.0, abs=0.1)
    out = tmp_path / f"dubbed.{container}"
    mux_dubbed_video(
        source=source,
        dub_mix=mix,
        out_path=out,
        container=container,  # type: ignore[arg-type]
        target_lang="es",
        source_lang="en",
        target_cues=TARGET_CUES,
        source_cues=SOURCE_CUES,
    )
    assert abs(_duration_s(out) - duration_s) <= _frame_s(source)
    assert _video_packet_digests(out) == _video_packet_digests(source)
    with av.open(str(out)) as read:
        assert [s.metadata.get("language") for s in read.streams.audio] == ["spa", "eng"]
        decoded = np.concatenate(
            [frame.to_ndarray()[0] for frame in read.decode(read.streams.audio[0])]
        )
    # The dub track decodes to the mix: at -23 LUFS it is neither silent nor clipped.
    assert 0.01 < np.abs(decoded).max() < 1.0


def test_an_audio_only_source_is_refused_with_a_stable_code(
    tmp_path: Path, media: MediaLibrary
) -> None:
    with pytest.raises(RequestRefused) as refused:
        require_video(media.speech_mp3)
    assert refused.value.code == "video_output_needs_video"
    out = tmp_path / "dubbed.mp4"
    with pytest.raises(RequestRefused, match="no video") as refused:
        mux_dubbed_video(
            source=media.speech_wav,
            dub_mix=_mix_file(tmp_path / "mix.wav", seconds=2.0),
            out_path=out,
            container="mp4",
            target_lang="fr",
            source_lang="en",
            target_cues=TARGET_CUES,
        )
    assert refused.value.code == "video_output_needs_video"
    assert not out.exists()


def test_bad_cues_leave_no_file_behind(tmp_path: Path, demo_sample: Path) -> None:
    out = tmp_path / "dubbed.mkv"
    overlapping = [Cue(1.0, 3.0, ("One",)), Cue(2.0, 4.0, ("Two",))]
    with pytest.raises(ValueError, match="must not overlap"):
        mux_dubbed_video(
            source=demo_sample,
            dub_mix=_mix_file(tmp_path / "mix.wav", seconds=2.0),
            out_path=out,
            container="mkv",
            target_lang="fr",
            source_lang="en",
            target_cues=overlapping,
        )
    assert list(tmp_path.iterdir()) == [tmp_path / "mix.wav"]


def test_remux_figures_for_the_demo_sample(tmp_path: Path, demo_sample: Path) -> None:
    """Copying the picture costs I/O, not CPU: the 27 s demo remuxes in well under its length."""
    mix = _mix_file(tmp_path / "mix.wav", seconds=_duration_s(demo_sample))
    started = time.perf_counter()
    mux_dubbed_video(
        source=demo_sample,
        dub_mix=mix,
        out_path=tmp_path / "dubbed.mp4",
        container="mp4",
        target_lang="fr",
        source_lang="zh",
        target_cues=TARGET_CUES,
        source_cues=SOURCE_CUES,
    )
    assert time.perf_counter() - started < _duration_s(demo_sample) / 2


def _source_with_pcm_audio(path: Path, demo_sample: Path) -> Path:
    """The demo's picture with a PCM soundtrack, in Matroska: audio MP4 will not carry as is."""
    with av.open(str(demo_sample)) as source, av.open(str(path), "w", format="matroska") as out:
        video_in = source.streams.video[0]
        video = out.add_stream_from_template(video_in)
        audio = out.add_stream("pcm_s16le", rate=16_000)
        audio.codec_context.layout = "mono"
        for packet in source.demux(video_in):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
        rate = 16_000
        seconds = 20
        samples = (3000 * np.sin(2 * np.pi * 300 * np.arange(seconds * rate) / rate)).astype(
            np.int16
        )
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        for packet in audio.encode(frame):
            out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return path


def test_original_audio_mp4_cannot_carry_is_encoded_to_aac(
    tmp_path: Path, demo_sample: Path
) -> None:
    source = _source_with_pcm_audio(tmp_path / "source.mkv", demo_sample)
    out = tmp_path / "dubbed.mp4"
    report = mux_dubbed_video(
        source=source,
        dub_mix=_mix_file(tmp_path / "mix.wav", seconds=5.0),
        out_path=out,
        container="mp4",
        target_lang="de",
        source_lang="en",
        target_cues=TARGET_CUES,
    )
    original = report.tracks[2]
    assert (original.codec, original.copied, original.language) == ("aac", False, "eng")
    with av.open(str(out)) as read:
        assert [s.codec_context.name for s in read.streams.audio] == ["aac", "aac"]
        assert read.streams.audio[0].metadata["language"] == "deu"
        decoded = np.concatenate(
            [frame.to_ndarray()[0] for frame in read.decode(read.streams.audio[1])]
        )
    assert np.abs(decoded).max() > 0.05
    assert _video_packet_digests(out) == _video_packet_digests(source)


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_an_original_that_starts_after_the_picture_keeps_its_place(
    tmp_path: Path, container: str
) -> None:
    source = write_late_audio_video(tmp_path / "late.mkv", audio_starts_s=0.5, tone_hz=300.0)
    out = tmp_path / f"dubbed.{container}"
    mux_dubbed_video(
        source=source,
        dub_mix=_mix_file(tmp_path / "mix.wav", seconds=2.0),
        out_path=out,
        container=container,  # type: ignore[arg-type]
        target_lang="it",
        source_lang="en",
        target_cues=TARGET_CUES,
    )
    with av.open(str(out)) as read:
        original = read.streams.audio[1]
        decoded = [
            (float(frame.pts * frame.time_base), frame.to_ndarray()[0])
            for frame in read.decode(original)
            if frame.pts is not None
        ]
    sound_starts_s = next(
        start_s + int(np.argmax(np.abs(samples) > 0.01)) / 48_000
        for start_s, samples in decoded
        if np.abs(samples).max() > 0.01
    )
    assert sound_starts_s == pytest.approx(0.5, abs=0.005)
