"""extract: each chunk's payload is compact, exactly as long as its span, and billed as planned."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ltb.media.speech_map import map_speech
from ltb.timeline import Span
from pipeline.extract import extract_chunk
from pipeline.payload import video_payload

from support.library import MediaLibrary


def test_audio_payload_is_16khz_mono_mp3_trimmed_to_the_span(media: MediaLibrary, tmp_path) -> None:
    payload = extract_chunk(media.speech_mp3, Span(4.5, 12.0), tmp_path)
    assert payload.kind == "audio" and payload.mime == "audio/mpeg"
    assert payload.duration_s == pytest.approx(7.5, abs=0.03)
    assert payload.audio_tokens == 94  # ceil(12.5 * 7.5) = ceil(93.75)
    assert payload.data_uri().startswith("data:audio/mpeg;base64,")
    assert len(payload.data_uri()) == payload.chars
    # The speech inside the payload sits where it sat in the source, shifted by the start.
    truth = [(s - 4.5, e - 4.5) for s, e in media.speech.speech if 4.5 < s < e < 12.0]
    found = map_speech(payload.path).regions
    assert found[0].start_s == pytest.approx(truth[0][0], abs=0.16)


def test_video_payload_bills_the_same_video_tokens_as_planned(
    media: MediaLibrary, tmp_path
) -> None:
    span = Span(2.0, 14.0)
    planned = video_payload(
        source_width=720, source_height=1280, source_fps=60000 / 1001, duration_s=span.duration_s
    )
    payload = extract_chunk(media.portrait_5994_mp4, span, tmp_path, video=planned)
    assert payload.kind == "video"
    assert payload.video_tokens == planned.tokens
    assert payload.duration_s == pytest.approx(12.0, abs=0.05)
    # 2 frames per second, pre-resized to the provider's portrait size.
    assert (planned.width, planned.height, planned.fps) == (640, 1152, 2.0)


def test_long_video_payloads_send_only_about_132_frames(media: MediaLibrary, tmp_path) -> None:
    source = media.video(
        "long-landscape.mp4", width=640, height=360, fps=Fraction(25), seconds=90.0
    )
    planned = video_payload(source_width=640, source_height=360, source_fps=25.0, duration_s=90.0)
    assert planned.frames == 132
    payload = extract_chunk(source, Span(0.0, 90.0), tmp_path, video=planned)
    assert payload.video_tokens == planned.tokens
