"""Billing end to end: generated media through `ltb emulator`, usage checked against numbers
computed by hand (audio: ceil(12.5 x max(1, s)); video: see test_token_formula.py)."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support.emulator import (
    Emulator,
    audio_message,
    data_uri,
    request_body,
    soundtrack,
    sse_json,
    usage_of,
    video_message,
)
from support.media import speech_timeline, write_audio, write_video


def translate(emulator: Emulator, body: dict[str, Any]) -> tuple[str, bytes, str, dict[str, Any]]:
    """Text, dub PCM, finish reason and usage of one raw streamed request."""
    response = emulator.post(body)
    assert response.status_code == 200, response.text
    chunks = sse_json(response.text)
    deltas = [c["choices"][0] for c in chunks if c["choices"]]
    text = "".join(d["delta"].get("content", "") for d in deltas)
    pcm = b"".join(
        base64.b64decode(d["delta"]["audio"]["data"]) for d in deltas if "audio" in d["delta"]
    )
    finish = next(d["finish_reason"] for d in deltas if d["finish_reason"])
    return text, pcm, finish, chunks[-1]["usage"]


def test_sub_second_audio_is_billed_as_one_second(fresh: Emulator, media_dir: Path) -> None:
    # 0.4 s of silence: ceil(12.5 x max(1, 0.4)) = 13; no speech, so nothing is said back.
    clip = write_audio(media_dir / "short_0_4.wav", speech_timeline([0.4]))
    text, pcm, finish, usage = translate(fresh, request_body(audio_message(data_uri(clip))))
    assert (text, pcm, finish) == ("", b"", "stop")
    assert usage == usage_of(input_audio=13, output_text=0, output_audio=0)


def test_thirty_seconds_of_audio_cost_375_tokens(fresh: Emulator, media_dir: Path) -> None:
    # 30.000 s exactly (480,000 samples at 16 kHz): 12.5 x 30 = 375.
    speech = speech_timeline([2.0, "en_1.flac", 20.0, "en_2.flac"]).samples
    samples = np.concatenate([speech, np.zeros(480_000 - speech.size, dtype=np.int16)])
    clip = write_audio(media_dir / "thirty.wav", samples)
    text, pcm, _, usage = translate(fresh, request_body(audio_message(data_uri(clip))))
    assert usage["prompt_tokens_details"] == {"audio_tokens": 375, "text_tokens": 0}
    assert usage["completion_tokens_details"] == {
        "audio_tokens": math.ceil(12.5 * len(pcm) / 2 / 24_000),
        "text_tokens": math.ceil(len(text) / 4),
    }


# (width, height, fps, seconds, AAC frames of the soundtrack) -> (video tokens, audio tokens)
# A soundtrack of n x 1024 samples at 16 kHz lasts n x 0.064 s; n = 4 (mod 5) keeps its
# token count the same even if the decoder adds one more AAC frame of padding.
VIDEO_CLIPS = {
    # 360x640 portrait, 20 s at 30 fps: 40 frames; 640 -> 20 x 32, 360 -> round(11.25) = 11 x 32
    # 20 x 20 x 11 + 2 = 4402; soundtrack 314 x 0.064 = 20.096 s -> ceil(251.2) = 252
    "portrait 20 s": ((360, 640, 30, 20.0, 314), (4402, 252)),
    # 4K at 2 fps for 3 s: 6 frames, all sampled; beta = sqrt(8294400 / 786432) = 3.2476
    # -> 640 x 1152: 3 x 20 x 36 + 2 = 2162; soundtrack 49 x 0.064 = 3.136 s -> ceil(39.2) = 40
    "4K": ((3840, 2160, 2, 3.0, 49), (2162, 40)),
    # 64x48 at 25 fps for 4 s: 8 frames, grown to 320 x 448: 4 x 10 x 14 + 2 = 562
    # soundtrack 64 x 0.064 = 4.096 s -> ceil(51.2) = 52
    "tiny 64x48": ((64, 48, 25, 4.0, 64), (562, 52)),
    # 160x90 at 5 fps for 70 s: 128 frames (the cap), grown to 288 x 512: 64 x 9 x 16 + 2 = 9218
    # soundtrack 1094 x 0.064 = 70.016 s -> ceil(875.2) = 876
    "70 s, over the frame cap": ((160, 90, 5, 70.0, 1094), (9218, 876)),
}


@pytest.mark.parametrize(("clip", "expected"), VIDEO_CLIPS.values(), ids=VIDEO_CLIPS.keys())
def test_video_is_billed_for_frames_and_soundtrack(
    fresh: Emulator,
    media_dir: Path,
    clip: tuple[int, int, float, float, int],
    expected: tuple[int, int],
) -> None:
    width, height, fps, seconds, aac_frames = clip
    path = write_video(
        media_dir / f"bill_{width}x{height}_{seconds:g}.mp4",
        width=width,
        height=height,
        fps=fps,
        seconds=seconds,
        audio=soundtrack(aac_frames, [0.2, "en_3.flac"]),
    )
    body = request_body(video_message(data_uri(path, "video/mp4")), voice=None)
    text, pcm, finish, usage = translate(fresh, body)
    video, audio = expected
    assert (pcm, finish) == (b"", "stop")
    assert usage == usage_of(
        input_audio=audio,
        input_video=video,
        output_text=math.ceil(len(text) / 4),
        output_audio=0,
    )


def test_a_video_wider_than_200_to_1_is_refused(fresh: Emulator, media_dir: Path) -> None:
    path = write_video(
        media_dir / "strip.mp4",
        width=4040,
        height=20,
        fps=10,
        seconds=1.0,
        audio=soundtrack(16, [0.1]),
    )
    response = fresh.post(request_body(video_message(data_uri(path, "video/mp4")), voice=None))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidParameter"
    assert "200" in error["message"]
    assert fresh.ledger()[-1]["usage"]["total_tokens"] == 0


def test_input_over_49152_tokens_is_refused_naming_the_limit(
    fresh: Emulator, media_dir: Path
) -> None:
    # 66 min of mostly silence, 8 kHz FLAC (small): 3964.04 s -> ceil(12.5 x 3964.04) = 49551.
    long_audio = speech_timeline([1.0, "en_0.flac", 3960.0]).samples[::2].copy()
    clip = write_audio(media_dir / "long.flac", long_audio, rate_hz=8000)
    response = fresh.post(request_body(audio_message(data_uri(clip)), voice=None))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidParameter"
    assert "49152" in error["message"] and "49,551" in error["message"]


def test_max_tokens_cuts_the_text_first_and_says_length(fresh: Emulator, speech_wav: Path) -> None:
    body = request_body(audio_message(data_uri(speech_wav)), max_tokens=20)
    text, pcm, finish, usage = translate(fresh, body)
    assert finish == "length"
    assert pcm == b"", "no room is left for audio once the text has the budget"
    # The text alone would be 43 tokens; it stops at exactly 20.
    assert usage["completion_tokens"] == math.ceil(len(text) / 4) == 20


def test_max_tokens_then_cuts_the_dub(fresh: Emulator, speech_wav: Path) -> None:
    full_text, full_pcm, _, full_usage = translate(
        fresh, request_body(audio_message(data_uri(speech_wav)))
    )
    text_tokens = full_usage["completion_tokens_details"]["text_tokens"]
    body = request_body(audio_message(data_uri(speech_wav)), max_tokens=text_tokens + 30)
    text, pcm, finish, usage = translate(fresh, body)
    assert finish == "length"
    assert text == full_text
    # 30 tokens of audio: the longest dub with ceil(12.5 x s) <= 30 is 2.4 s.
    assert len(pcm) / 2 / 24_000 == pytest.approx(2.4, abs=1 / 24_000)
    assert full_pcm.startswith(pcm)
    assert usage["completion_tokens_details"] == {"audio_tokens": 30, "text_tokens": text_tokens}


def test_the_configured_output_cap_applies_below_the_models_own(
    capped: Emulator, speech_wav: Path
) -> None:
    text, _, finish, usage = translate(capped, request_body(audio_message(data_uri(speech_wav))))
    assert finish == "length"
    assert usage["completion_tokens"] <= 50
    assert usage["completion_tokens_details"]["text_tokens"] == math.ceil(len(text) / 4)


def test_a_file_without_speech_is_billed_for_input_only(fresh: Emulator, silence_wav: Path) -> None:
    response = fresh.post(request_body(audio_message(data_uri(silence_wav))))
    chunks = sse_json(response.text)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"content": "", "role": "assistant"}
    assert not any("audio" in d for d in deltas)
    # 2 s: 12.5 x 2 = 25
    assert chunks[-1]["usage"] == usage_of(input_audio=25, output_text=0, output_audio=0)
