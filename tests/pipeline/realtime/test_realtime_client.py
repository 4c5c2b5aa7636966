"""The realtime client against `ltb emulator` as a real process: one answer per utterance,
usage handed over as each response ends, and every failure as a stable code."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ltb.errors import ProviderError
from ltb.tokens import image_tokens
from pipeline.realtime.client import (
    Frame,
    RealtimeClient,
    SessionConfig,
    SessionInput,
    SessionResult,
    UtteranceReply,
)

from support.emulator import Emulator
from support.media import speech_timeline
from support.realtime import jpeg

LAYOUT = [1.0, "en_0.flac", 1.0, "en_1.flac", 1.0]
FAST = 50.0


def client(emulator: Emulator, *, key: str | None = None, **kw: Any) -> RealtimeClient:
    url = emulator.root_url.replace("http://", "ws://") + "/api-ws/v1/realtime"
    return RealtimeClient(
        url=url,
        api_key=key or emulator.api_key,
        model="qwen3-livetranslate-flash-realtime",
        pace=FAST,
        **kw,
    )


def media(frames: tuple[Frame, ...] = ()) -> SessionInput:
    samples = speech_timeline(LAYOUT).samples
    return SessionInput(pcm16=samples.astype("<i2").tobytes(), frames=frames)


def run(
    realtime: RealtimeClient, config: SessionConfig, media_in: SessionInput
) -> tuple[SessionResult, list[UtteranceReply]]:
    handed: list[UtteranceReply] = []
    result = asyncio.run(realtime.run_session(config, media_in, on_response=handed.append))
    return result, handed


def realtime_kinds(entry: dict[str, Any]) -> dict[str, int]:
    """A realtime ledger entry's usage, as response.done carried it, by token kind."""
    usage = entry["realtime"]["usage"]
    inputs, outputs = usage["input_tokens_details"], usage["output_tokens_details"]
    return {
        "input_audio": inputs["audio_tokens"],
        "input_video": 0,
        "input_text": inputs["text_tokens"],
        "output_text": outputs["text_tokens"],
        "output_audio": outputs["audio_tokens"],
        "input_image": inputs["image_tokens"],
    }


def realtime_entries(emulator: Emulator) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger() if e["kind"] == "realtime" and e["outcome"] == "ok"]


def test_each_utterance_comes_back_with_text_dub_transcript_and_the_ledgers_usage(
    provider: Emulator,
) -> None:
    realtime = client(provider)
    result, handed = run(
        realtime, SessionConfig(target_lang="de", source_lang="en", voice="Cherry"), media()
    )

    assert len(result.utterances) == 2 and handed == list(result.utterances)
    assert realtime.provider == "emulator"
    entries = realtime_entries(provider)
    assert [u.response_id for u in result.utterances] == [e["request_id"] for e in entries]
    for reply, entry in zip(result.utterances, entries, strict=True):
        assert reply.text and reply.transcript and reply.dub_s > 0.5
        assert reply.status == "completed"
        assert reply.usage.as_dict() == realtime_kinds(entry)
        assert reply.usage.input_audio > 0 and reply.usage.output_audio > 0


def test_text_only_sessions_send_no_audio_back(provider: Emulator) -> None:
    result, _ = run(client(provider), SessionConfig(target_lang="th", source_lang="en"), media())
    assert len(result.utterances) == 2
    assert all(u.text and not u.pcm and u.usage.output_audio == 0 for u in result.utterances)


def test_frames_go_after_audio_and_are_billed_as_image_tokens(provider: Emulator) -> None:
    frame = Frame(at_s=0.0, jpeg=jpeg(854, 480), width=854, height=480)
    later = Frame(at_s=3.0, jpeg=jpeg(854, 480), width=854, height=480)
    result, _ = run(
        client(provider),
        SessionConfig(target_lang="en", source_lang="en"),
        media(frames=(frame, later)),
    )
    assert sum(u.usage.input_image for u in result.utterances) == 2 * image_tokens(
        width=854, height=480
    )


def test_a_wrong_key_is_provider_auth_and_not_retried(provider: Emulator) -> None:
    with pytest.raises(ProviderError) as caught:
        run(client(provider, key="sk-wrong"), SessionConfig("en", "en"), media())
    assert caught.value.code == "provider_auth" and not caught.value.retryable


@pytest.mark.parametrize(
    ("fault", "code"), [("cut", "stream_cut"), ("500", "provider_unavailable")]
)
def test_a_session_broken_mid_way_is_retryable_and_keeps_what_arrived(
    provider: Emulator, fault: str, code: str
) -> None:
    handed: list[UtteranceReply] = []
    realtime = client(provider, headers={"x-emulator-fault": fault})
    with pytest.raises(ProviderError) as caught:
        asyncio.run(
            realtime.run_session(
                SessionConfig("en", "en", voice="Cherry"), media(), on_response=handed.append
            )
        )
    assert caught.value.code == code and caught.value.retryable
    partial = caught.value.partial
    assert isinstance(partial, SessionResult) and list(partial.utterances) == handed


def test_moderation_mid_response_is_rejected_for_good(provider: Emulator) -> None:
    realtime = client(provider, headers={"x-emulator-fault": "moderation"})
    with pytest.raises(ProviderError) as caught:
        run(realtime, SessionConfig("en", "en"), media())
    assert caught.value.code == "provider_rejected" and not caught.value.retryable
