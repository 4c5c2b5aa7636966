"""probe: what the source is, as OpenCV and the decoder report it, and clear refusals."""

from __future__ import annotations

import shutil

import pytest

from ltb.errors import MediaError
from ltb.media.probe import MediaLimits, _read_video_props, probe

from support.library import MediaLibrary


def test_audio_only_file_has_no_video_and_its_exact_duration(media: MediaLibrary) -> None:
    info = probe(media.speech_wav)
    assert info.video is None
    assert info.audio.sample_rate_hz == 16_000
    assert info.duration_s == pytest.approx(media.speech.duration_s, abs=1e-3)


@pytest.mark.parametrize(
    ("name", "width", "height", "fps", "frames"),
    [
        ("landscape_mp4", 1280, 720, 30.0, 498),
        ("portrait_5994_mp4", 720, 1280, 60000 / 1001, 994),
        ("uhd_mp4", 3840, 2160, 24.0, 96),
        ("tiny_mp4", 64, 48, 25.0, 415),
    ],
)
def test_video_properties_are_what_opencv_reports(
    media: MediaLibrary, name: str, width: int, height: int, fps: float, frames: int
) -> None:
    video = probe(getattr(media, name)).video
    assert video is not None
    assert (video.width, video.height, video.frames) == (width, height, frames)
    assert video.fps == pytest.approx(fps, rel=1e-6)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("empty_mp4", "empty_file"),
        ("text_mp4", "unsupported_media"),
        ("truncated_mp4", "unsupported_media"),
        ("silent_video_mp4", "no_audio_stream"),
        ("wide_mp4", "aspect_ratio_out_of_range"),
    ],
)
def test_bad_files_are_refused_with_a_stable_code(
    media: MediaLibrary, name: str, code: str
) -> None:
    with pytest.raises(MediaError) as caught:
        probe(getattr(media, name))
    assert caught.value.code == code
    assert caught.value.message  # a human sentence, not an empty string


def test_caps_on_size_duration_and_resolution_refuse_oversized_media(media: MediaLibrary) -> None:
    with pytest.raises(MediaError) as too_big:
        probe(media.speech_wav, limits=MediaLimits(max_bytes=1000))
    assert too_big.value.code == "too_large"
    with pytest.raises(MediaError) as too_long:
        probe(media.speech_wav, limits=MediaLimits(max_duration_s=5.0))
    assert too_long.value.code == "too_long"
    with pytest.raises(MediaError) as too_wide:
        probe(media.uhd_mp4, limits=MediaLimits(max_pixels=1920 * 1080))
    assert too_wide.value.code == "too_large"


def test_a_file_that_points_elsewhere_is_not_followed(tmp_path) -> None:
    # An HLS playlist asks ffmpeg to open a URL; only the file protocol is allowed.
    playlist = tmp_path / "evil.m3u8"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n"
    )
    with pytest.raises(MediaError) as caught:
        probe(playlist)
    assert caught.value.code == "unsupported_media"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "evil.m3u8",
            "#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXTINF:30,\n{target}\n#EXT-X-ENDLIST\n",
        ),
        ("evil.ffconcat", "ffconcat version 1.0\nfile {target}\n"),
        ("evil.mp4", "ffconcat version 1.0\nfile {target}\n"),
    ],
    ids=["hls", "concat", "concat-named-mp4"],
)
def test_opencv_is_held_to_the_same_demuxers_as_the_decoder(
    media: MediaLibrary, tmp_path, name: str, text: str
) -> None:
    # probe() lets PyAV refuse such playlists first; the video measurement opens the
    # file again through OpenCV's own ffmpeg, which must refuse them on its own too,
    # rather than measure (and so bill) another local file the playlist names.
    target = tmp_path / "target.mp4"
    shutil.copyfile(media.landscape_mp4, target)
    playlist = tmp_path / name
    playlist.write_text(text.format(target=target.name))
    with pytest.raises(MediaError) as caught:
        _read_video_props(playlist, "h264", MediaLimits(), playlist.name)
    assert caught.value.code == "unsupported_media"
