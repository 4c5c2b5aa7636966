"""The realtime emulator's plain pieces: the image formula, the live utterance detector and
the session settings."""

from __future__ import annotations

import pytest

from emulator.realtime.protocol import RealtimeError
from emulator.realtime.utterances import UtteranceDetector
from emulator.realtime.validation import SessionSettings, apply_update
from ltb.errors import MediaError
from ltb.media.speech_map import detect_speech
from ltb.tokens import image_tokens

from support.media import speech_timeline


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [
        (1280, 720, 588),  # the provider's example: 1,175.5 tiles
        (1920, 1080, 1323),  # 2,644.9 tiles
        (640, 480, 196),
        (28, 28, 1),  # half a token, rounded up
        (56, 28, 1),
        (1, 1, 1),
    ],
)
def test_image_tokens_are_half_a_token_per_28_pixel_tile(
    width: int, height: int, tokens: int
) -> None:
    assert image_tokens(width=width, height=height) == tokens


def test_image_tokens_refuse_an_empty_image() -> None:
    with pytest.raises(MediaError):
        image_tokens(width=0, height=720)


def test_live_detection_finds_the_regions_of_the_whole_file() -> None:
    timeline = speech_timeline([1.0, "en_0.flac", 1.0, "de_0.flac", 0.6, "es_1.flac", 1.0])
    pcm = timeline.samples.astype("<i2").tobytes()
    detector = UtteranceDetector()
    found = []
    # Odd block sizes split samples between appends; nothing may be lost.
    for start in range(0, len(pcm), 3001):
        found += detector.feed(pcm[start : start + 3001])
    found += detector.finish()
    whole = detect_speech([timeline.samples], duration_s=timeline.duration_s)
    assert [u.span for u in found] == list(whole)
    assert [u.index for u in found] == list(range(len(whole)))
    # Each utterance is known to be over only once the pause after it has been heard.
    assert all(u.heard_s > u.span.end_s for u in found[:-1])


def test_settings_merge_and_check_together() -> None:
    settings = apply_update(SessionSettings(), {"translation": {"language": "zh"}})
    assert settings.voice == "Cherry" and settings.target_lang == "zh"
    settings = apply_update(settings, {"voice": "Dylan"})
    with pytest.raises(RealtimeError) as refused:
        apply_update(settings, {"translation": {"language": "en"}})
    assert refused.value.param == "session.voice"
    text_only = apply_update(settings, {"modalities": ["text"], "translation": {"language": "en"}})
    assert text_only.wants_audio is False
