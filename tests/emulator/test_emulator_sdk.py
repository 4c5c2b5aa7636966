"""Conformance through the official openai SDK, used as the seeds use it: text from
`delta.content`, base64 PCM from the audio delta, the usage chunk last."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import openai
import pytest
from openai.types.chat.chat_completion_chunk import ChoiceDeltaAudio

from ltb.media.speech_map import map_speech

from support.emulator import (
    Collected,
    Emulator,
    audio_data,
    audio_message,
    collect,
    collect_async,
    data_uri,
    request_body,
    sdk_arguments,
    soundtrack,
    usage_of,
    video_message,
)
from support.media import write_video

DUB_FACTOR = 1.1
# speech.wav: 1.0 s + en_0 (3.0381 s) + 0.5 s + zh_0 (7.2744 s) + 1.0 s = 12.8125 s,
# so input audio = ceil(12.5 x 12.8125) = ceil(160.16) = 161.
SPEECH_WAV_INPUT_TOKENS = 161
SPEECH_IN_TIMELINE_S = 3.0381 + 7.2744


def expected_dub_s(path: Path) -> float:
    """The dub lasts the detected speech x 1.1, to the sample at 24 kHz."""
    return round(map_speech(path).speech_s * DUB_FACTOR * 24_000) / 24_000


def latin_text_tokens(text: str) -> int:
    # The emulator's documented rule for alphabetic scripts: one token per 4 characters.
    assert text.isascii()
    return math.ceil(len(text) / 4)


def test_the_pinned_sdk_types_the_audio_delta_as_an_object() -> None:
    # pyproject pins openai>=3.0,<4; on 3.x delta.audio is ChoiceDeltaAudio, not a dict.
    assert int(openai.__version__.split(".")[0]) == 3
    assert "data" in ChoiceDeltaAudio.model_fields


def test_the_audio_reader_accepts_both_sdk_shapes() -> None:
    typed = SimpleNamespace(audio=ChoiceDeltaAudio(data="AAA=", id="audio_1", expires_at=1))
    legacy = SimpleNamespace(audio={"data": "AAA=", "id": "audio_1", "expires_at": 1})
    text_only = SimpleNamespace(audio=None)
    assert audio_data(typed) == audio_data(legacy) == "AAA="
    assert audio_data(text_only) is None


def test_sync_sdk_gets_text_24khz_audio_and_exact_usage_for_a_wav(
    fresh: Emulator, speech_wav: Path
) -> None:
    body = request_body(audio_message(data_uri(speech_wav)), target="en", source="zh")
    with fresh.client() as client:
        result = collect(client.chat.completions.create(**sdk_arguments(body)))

    assert result.finish_reason == "stop"
    assert len(result.chunk_ids) == 1 and next(iter(result.chunk_ids)).startswith("chatcmpl-")
    sentences = [s for s in result.text.split(". ") if s]
    assert len(sentences) == 2, "one sentence per speech region"
    assert result.text.endswith(".")
    assert result.dub_s == pytest.approx(expected_dub_s(speech_wav), abs=1 / 24_000)
    assert result.dub_s == pytest.approx(SPEECH_IN_TIMELINE_S * DUB_FACTOR, rel=0.1)
    # Output audio = ceil(12.5 x dub seconds); output text by the 4-characters rule.
    assert result.usage == usage_of(
        input_audio=SPEECH_WAV_INPUT_TOKENS,
        output_text=latin_text_tokens(result.text),
        output_audio=math.ceil(12.5 * result.dub_s),
    )
    assert result.request_id and result.request_id in next(iter(result.chunk_ids))


def test_async_sdk_gets_the_same_answer_for_an_mp3(fresh: Emulator, speech_mp3: Path) -> None:
    body = request_body(audio_message(data_uri(speech_mp3, "audio/mpeg")), target="zh")

    async def translate() -> Collected:
        async with fresh.async_client() as client:
            stream = await client.chat.completions.create(**sdk_arguments(body))
            return await collect_async(stream)

    result = asyncio.run(translate())
    assert result.finish_reason == "stop"
    text = result.text
    assert text.count("。") == 2 and all("\u4e00" <= c <= "\u9fff" or c == "。" for c in text)
    # The mp3 decodes to the same 12.8125 s as the wav it was encoded from: 161 tokens.
    assert result.usage == usage_of(
        input_audio=SPEECH_WAV_INPUT_TOKENS,
        output_text=len(text),  # Han characters and 。 are one token each
        output_audio=math.ceil(12.5 * result.dub_s),
    )
    assert result.dub_s == pytest.approx(expected_dub_s(speech_mp3), abs=1 / 24_000)


@pytest.fixture(scope="module")
def media_server(speech_wav: Path) -> Iterator[str]:
    """A loopback HTTP server holding the test media, as a presigned URL would."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(speech_wav.parent))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_media_by_loopback_url_is_fetched_and_billed(
    fresh: Emulator, speech_wav: Path, media_server: str
) -> None:
    body = request_body(audio_message(f"{media_server}/{speech_wav.name}"), target="fr")
    with fresh.client() as client:
        result = collect(client.chat.completions.create(**sdk_arguments(body)))
    assert result.finish_reason == "stop"
    assert result.usage is not None
    assert result.usage["prompt_tokens_details"] == {"audio_tokens": 161, "text_tokens": 0}
    assert result.dub_s == pytest.approx(expected_dub_s(speech_wav), abs=1 / 24_000)


def test_video_input_bills_frames_and_soundtrack(fresh: Emulator, media_dir: Path) -> None:
    # 640x360 at 59.94 fps for 3 s: OpenCV reports 180 frames at 59.94006 fps.
    #   duration 180 / 59.94 = 3.003 s; leftover 0.003 s <= 0.5 s -> ceil(3 x 59.94) = 180 frames
    #   sampled: 180 / 59.94 x 2 = 6.006 -> 6 frames; pixel cap min(786432, 16384*1024*2/6) = 786432
    #   360 -> round(11.25) = 11 x 32 = 352, 640 -> 20 x 32 = 640; 352 x 640 fits
    #   video tokens = ceil(6 / 2) x 11 x 20 + 2 = 662
    # Soundtrack: 49 AAC frames of 1024 samples at 16 kHz = 3.136 s -> ceil(39.2) = 40.
    clip = write_video(
        media_dir / "sdk_5994.mp4",
        width=640,
        height=360,
        fps=60000 / 1001,
        seconds=3.0,
        audio=soundtrack(49, [0.05, "en_0.flac"]),
    )
    body = request_body(video_message(data_uri(clip, "video/mp4")), target="de")
    with fresh.client() as client:
        result = collect(client.chat.completions.create(**sdk_arguments(body)))
    assert result.finish_reason == "stop"
    assert result.text and result.dub_s > 0
    assert result.usage == usage_of(
        input_audio=40,
        input_video=662,
        output_text=math.ceil(len(result.text) / 4),  # Latin letters, umlauts included
        output_audio=math.ceil(12.5 * result.dub_s),
    )
