"""Every refusal of the realtime protocol: at the handshake (HTTP statuses, since no socket
is open yet), then as `error` events {type, code, message, param} on a session that stays
open."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from support.emulator import Emulator
from support.media import speech_timeline
from support.realtime import (
    LiveTranslateClient,
    jpeg,
    png,
    realtime_url,
    session_config,
)


def handshake_status(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], Any]:
    async def attempt() -> Any:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url, additional_headers=headers)
        return refused.value.response

    response = asyncio.run(attempt())
    return response.status_code, json.loads(response.body), response.headers


def test_a_wrong_key_is_refused_at_the_handshake(fresh: Emulator) -> None:
    status, body, _ = handshake_status(
        realtime_url(fresh), {"Authorization": "Bearer sk-wrong-key-0000000000"}
    )
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body, _ = handshake_status(realtime_url(fresh), {})
    assert status == 401 and "Bearer" in body["error"]["message"]
    refused = [e for e in fresh.ledger() if e["kind"] == "realtime"]
    assert [(e["outcome"], e["status"]) for e in refused] == [("error", 401), ("error", 401)]


@pytest.mark.parametrize(
    "model", ["qwen3-livetranslate-flash", "qwen-omni-turbo-realtime", None], ids=str
)
def test_an_unknown_or_missing_model_is_refused(fresh: Emulator, model: str | None) -> None:
    status, body, _ = handshake_status(
        realtime_url(fresh, model), {"Authorization": f"Bearer {fresh.api_key}"}
    )
    assert status == 404 and body["error"]["code"] == "model_not_found"
    assert body["error"]["param"] == "model"


def test_the_dated_snapshot_is_served(fresh: Emulator) -> None:
    async def created() -> dict[str, Any]:
        url = realtime_url(fresh, "qwen3-livetranslate-flash-realtime-2025-09-22")
        async with websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {fresh.api_key}"}
        ) as ws:
            event: dict[str, Any] = json.loads(await ws.recv())
            return event

    event = asyncio.run(created())
    assert event["type"] == "session.created"
    assert event["session"]["model"] == "qwen3-livetranslate-flash-realtime-2025-09-22"


async def _session(
    emulator: Emulator, steps: Callable[[LiveTranslateClient], Awaitable[None]]
) -> LiveTranslateClient:
    """Runs `steps` on an open session, then finishes it; returns the client with
    everything it received."""
    client = LiveTranslateClient(realtime_url(emulator), emulator.api_key)
    await client.connect()
    reader = asyncio.create_task(client.handle_server_messages())
    try:
        await steps(client)
        await client.finish()
        await asyncio.wait_for(reader, 30)
    finally:
        await client.close()
    return client


def errors_after(
    emulator: Emulator, steps: Callable[[LiveTranslateClient], Awaitable[None]]
) -> list[dict[str, Any]]:
    client = asyncio.run(_session(emulator, steps))
    assert client.received.types[-1] == "session.finished", "the session must survive its errors"
    return client.received.errors


INVALID_SESSIONS: dict[str, tuple[dict[str, Any], str]] = {
    "audio-only modalities": ({"modalities": ["audio"]}, "session.modalities"),
    "unknown modality": ({"modalities": ["text", "video"]}, "session.modalities"),
    "modalities not a list": ({"modalities": "text"}, "session.modalities"),
    "unknown target": ({"translation": {"language": "xx"}}, "session.translation.language"),
    "unknown source": (
        {"input_audio_transcription": {"model": "qwen3-asr-flash-realtime", "language": "klingon"}},
        "session.input_audio_transcription.language",
    ),
    "unknown transcription model": (
        {"input_audio_transcription": {"model": "whisper-1", "language": "en"}},
        "session.input_audio_transcription.model",
    ),
    "unknown voice": ({"voice": "Ethan"}, "session.voice"),
    "voice cannot speak the target": (
        {"voice": "Kiki", "translation": {"language": "en"}},
        "session.voice",
    ),
    "dialect voice for another language": (
        {"voice": "Dylan", "translation": {"language": "ja"}},
        "session.voice",
    ),
    "audio for a text-only target": (
        {"modalities": ["text", "audio"], "translation": {"language": "th"}},
        "session.modalities",
    ),
    "input format": ({"input_audio_format": "pcm24"}, "session.input_audio_format"),
    "input format g711": ({"input_audio_format": "g711_ulaw"}, "session.input_audio_format"),
    "output format": ({"output_audio_format": "mp3"}, "session.output_audio_format"),
    "session not an object": ([], "session"),
}


@pytest.mark.parametrize(
    ("session", "param"), INVALID_SESSIONS.values(), ids=INVALID_SESSIONS.keys()
)
def test_invalid_session_updates_are_error_events(
    fresh: Emulator, session: Any, param: str
) -> None:
    async def steps(client: LiveTranslateClient) -> None:
        await client.configure_session(session)
        await client.wait_for("error")
        # The session is still usable: a valid update goes through.
        await client.configure_session(session_config(target="ja", voice="Cherry"))
        await client.wait_for("session.updated")

    client = asyncio.run(_session(fresh, steps))
    (error,) = client.received.errors
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_value" and error["param"] == param and error["message"]
    updated = client.received.of("session.updated")[0]["session"]
    assert updated["translation"] == {"language": "ja"} and updated["voice"] == "Cherry"


def test_a_rejected_update_changes_nothing(fresh: Emulator) -> None:
    async def steps(client: LiveTranslateClient) -> None:
        await client.configure_session(session_config(target="de", voice=None))
        await client.wait_for("session.updated")
        # A bad voice in the same update as a new target: neither is applied.
        await client.configure_session({"translation": {"language": "zh"}, "voice": "Nobody"})
        await client.wait_for("error")
        await client.configure_session({})
        await client.wait_for("session.updated", count=2)

    client = asyncio.run(_session(fresh, steps))
    last = client.received.of("session.updated")[-1]["session"]
    assert last["translation"] == {"language": "de"} and last["modalities"] == ["text"]


def test_voices_speak_their_own_languages(fresh: Emulator) -> None:
    good = [("Kiki", "yue"), ("Dylan", "zh"), ("Nofish", "ko"), ("Cherry", "pt")]

    async def steps(client: LiveTranslateClient) -> None:
        for voice, target in good:
            await client.configure_session(session_config(target=target, voice=voice))
        await client.wait_for("session.updated", count=len(good))

    assert errors_after(fresh, steps) == []


BAD_EVENTS: dict[str, tuple[str, str, str | None]] = {
    "not json": ("{not json", "invalid_json", None),
    "not an object": ("[1, 2]", "invalid_json", None),
    "unknown type": (json.dumps({"type": "response.create"}), "invalid_value", "type"),
    "no type": (json.dumps({"audio": "AAAA"}), "invalid_value", "type"),
    "audio not base64": (
        json.dumps({"type": "input_audio_buffer.append", "audio": "not base64!"}),
        "invalid_value",
        "audio",
    ),
    "audio missing": (json.dumps({"type": "input_audio_buffer.append"}), "invalid_value", "audio"),
    "image not base64": (
        json.dumps({"type": "input_image_buffer.append", "image": "%%%"}),
        "invalid_value",
        "image",
    ),
}


@pytest.mark.parametrize(("frame", "code", "param"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_bad_client_events_are_error_events(
    fresh: Emulator, frame: str, code: str, param: str | None
) -> None:
    async def steps(client: LiveTranslateClient) -> None:
        await client.ws.send(frame)
        await client.wait_for("error")

    (error,) = errors_after(fresh, steps)
    assert (error["code"], error["param"]) == (code, param)


def test_events_after_session_finish_are_refused(fresh: Emulator) -> None:
    async def scenario() -> list[dict[str, Any]]:
        url = realtime_url(fresh)
        headers = {"Authorization": f"Bearer {fresh.api_key}"}
        seen: list[dict[str, Any]] = []
        async with websockets.connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "session.finish"}))
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}))
            while not {"error", "session.finished"} <= {e["type"] for e in seen}:
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        return seen

    seen = asyncio.run(scenario())
    (error,) = [e["error"] for e in seen if e["type"] == "error"]
    assert error["param"] == "type" and "finishing" in error["message"]


# --- images -------------------------------------------------------------------------------

SPEECH = speech_timeline([0.5, "en_3.flac", 0.5]).samples.astype("<i2").tobytes()


def send_image(image: bytes) -> Callable[[LiveTranslateClient], Awaitable[None]]:
    async def steps(client: LiveTranslateClient) -> None:
        await client.send_audio_chunk(SPEECH[:3200])
        await client.send_image_frame(image)

    return steps


IMAGE_ERRORS: dict[str, tuple[bytes, str]] = {
    "png": (png(64, 64), "JPEG"),
    "not an image": (b"\xff\xd8\xff" + b"garbage" * 10, "cannot be decoded"),
    "over 500 KB": (jpeg(1280, 720, noise=True, quality=100), "500 KB"),
    "wider than 1080p": (jpeg(2048, 1080), "1080p"),
    "taller than 1080p": (jpeg(1920, 1200), "1080p"),
}


@pytest.mark.parametrize(("image", "says"), IMAGE_ERRORS.values(), ids=IMAGE_ERRORS.keys())
def test_images_breaking_a_limit_are_refused(fresh: Emulator, image: bytes, says: str) -> None:
    async def steps(client: LiveTranslateClient) -> None:
        await send_image(image)(client)
        await client.wait_for("error")

    (error,) = errors_after(fresh, steps)
    assert error["code"] == "invalid_value" and error["param"] == "image"
    assert says in error["message"]


def test_full_1080p_in_either_orientation_is_accepted(fresh: Emulator) -> None:
    async def steps(client: LiveTranslateClient) -> None:
        await client.send_audio_chunk(SPEECH[:32000])  # 1 s
        await client.send_image_frame(jpeg(1920, 1080))
        await client.send_audio_chunk(SPEECH[32000:])
        await client.send_image_frame(jpeg(1080, 1920))

    assert errors_after(fresh, steps) == []
    assert len(jpeg(1280, 720, noise=True, quality=100)) > 500 * 1024


def test_an_image_before_any_audio_is_refused(fresh: Emulator) -> None:
    async def steps(client: LiveTranslateClient) -> None:
        await client.send_image_frame(jpeg(640, 480))
        await client.wait_for("error")

    (error,) = errors_after(fresh, steps)
    assert error["param"] == "image" and "input_audio_buffer.append" in error["message"]


def test_more_than_two_images_per_second_of_audio_are_refused(fresh: Emulator) -> None:
    frame = jpeg(640, 480)
    block = 3200  # 100 ms

    async def steps(client: LiveTranslateClient) -> None:
        await client.send_audio_chunk(b"\x00\x00" * 1600)
        for _ in range(3):  # three at the same moment: the third is one too many
            await client.send_image_frame(frame)
        await client.wait_for("error")
        silence = b"\x00" * block
        for _ in range(10):  # a second later the window is empty again
            await client.send_audio_chunk(silence)
        # Every 0.5 s of audio: 2 per second, always accepted.
        for _ in range(4):
            for tenth in range(10):
                await client.send_audio_chunk(silence)
                if tenth in (0, 5):
                    await client.send_image_frame(frame)

    (error,) = errors_after(fresh, steps)
    assert error["param"] == "image" and "2 images per second" in error["message"]


def test_refused_images_are_not_billed(fresh: Emulator) -> None:
    async def steps(client: LiveTranslateClient) -> None:
        await client.configure_session(session_config(voice=None))
        await client.send_image_frame(jpeg(640, 480))  # before audio: refused
        # The speech, without the pause after it: the utterance is still open.
        await client.send_audio_chunk(SPEECH[:-16000])
        await client.send_image_frame(png(64, 64))  # refused
        await client.send_image_frame(jpeg(640, 480))  # accepted
        await client.send_audio_chunk(b"\x00\x00" * 16000)

    assert len(errors_after(fresh, steps)) == 2
    (entry,) = [e for e in fresh.ledger() if e["kind"] == "realtime"]
    assert entry["realtime"]["images"] == 1
    assert entry["realtime"]["usage"]["input_tokens_details"]["image_tokens"] == 196  # 640x480


def test_audio_appends_must_hold_pcm(fresh: Emulator) -> None:
    async def steps(client: LiveTranslateClient) -> None:
        await client.send("input_audio_buffer.append", audio="")
        await client.wait_for("error")

    (error,) = errors_after(fresh, steps)
    assert error["param"] == "audio"


def test_a_response_over_the_input_limit_is_refused_and_the_session_goes_on(
    fresh: Emulator,
) -> None:
    frame = jpeg(1920, 1080)  # 1,323 tokens: 38 of them pass 49,152
    block = b"\x00\x00" * 1600
    speech = speech_timeline([0.3, "en_3.flac", 1.0]).samples.astype("<i2").tobytes()

    async def steps(client: LiveTranslateClient) -> None:
        await client.configure_session(session_config(voice=None))
        for index in range(200):  # 20 s of silence, a frame every 0.5 s
            await client.send_audio_chunk(block)
            if index % 5 == 0:
                await client.send_image_frame(frame)
        await client.send_audio_chunk(speech)
        await client.wait_for("error")
        await client.send_audio_chunk(speech)  # the next utterance starts a fresh window
        await client.wait_for("response.done")

    client = asyncio.run(_session(fresh, steps))
    (error,) = client.received.errors
    assert error["code"] == "invalid_value" and "49152" in error["message"]
    entries = [e for e in fresh.ledger() if e["kind"] == "realtime"]
    assert [e["outcome"] for e in entries] == ["error", "ok"]
    assert entries[0]["usage"]["total_tokens"] == 0
    assert entries[1]["realtime"]["usage"]["input_tokens_details"]["image_tokens"] == 0
