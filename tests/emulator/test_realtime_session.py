"""The realtime engine's protocol, spoken by a client written the way the provider's sample
writes one, against `ltb emulator` running as a real process, on real speech."""

from __future__ import annotations

import asyncio
import base64
import itertools
import math
from typing import Any

import pytest

from emulator.billing import text_tokens
from ltb.tokens import audio_tokens, image_tokens

from support.emulator import Emulator
from support.media import speech_timeline
from support.realtime import (
    MODEL,
    jpeg,
    pcm_seconds,
    realtime_url,
    session_config,
    translate_file,
)

# Two utterances in two languages, with pauses the detector cannot miss.
LAYOUT = [1.0, "en_0.flac", 1.0, "zh_0.flac", 1.0]

AUDIO_ORDER = [
    "response.created",
    "response.output_item.added",
    "response.content_part.added",
    "response.audio_transcript.text",
    "response.audio.delta",
    "response.audio_transcript.done",
    "response.audio.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
]
TEXT_ORDER = [
    "response.created",
    "response.output_item.added",
    "response.content_part.added",
    "response.text.text",
    "response.text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
]


def run(emulator: Emulator, session: dict[str, Any], layout: list[Any] = LAYOUT, **kw: Any) -> Any:
    samples = speech_timeline(layout).samples
    return asyncio.run(
        translate_file(realtime_url(emulator), emulator.api_key, samples, session, **kw)
    )


def realtime_entries(emulator: Emulator) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger() if e["kind"] == "realtime"]


def collapsed(types: list[str]) -> list[str]:
    """Event types with repeats folded, so the order of kinds can be compared."""
    return [t for i, t in enumerate(types) if i == 0 or types[i - 1] != t]


def test_the_sample_client_gets_one_spoken_translation_per_utterance(fresh: Emulator) -> None:
    received = run(fresh, session_config(target="de", voice="Cherry"))

    assert received.types[:2] == ["session.created", "session.updated"]
    assert received.types[-1] == "session.finished" and received.closed_cleanly
    created = received.events[0]["session"]
    assert created["object"] == "realtime.session" and created["model"] == MODEL
    assert received.events[1]["session"]["translation"] == {"language": "de"}
    assert not received.errors

    responses = received.responses()
    assert len(responses) == 2  # one per utterance
    for events in responses:
        assert collapsed([e["type"] for e in events]) == AUDIO_ORDER
        response_id = events[0]["response"]["id"]
        assert all(
            e.get("response_id", e.get("response", {}).get("id")) == response_id for e in events
        )
        texts = [e for e in events if e["type"] == "response.audio_transcript.text"]
        final = next(e for e in events if e["type"] == "response.audio_transcript.done")
        # Each text event is the whole hypothesis so far: settled text plus the stash.
        assert texts[-1]["text"] + texts[-1]["stash"] == final["transcript"]
        assert all(a["text"] + a["stash"] == b["text"] for a, b in itertools.pairwise(texts))
        done = events[-1]["response"]
        assert done["status"] == "completed"
        assert done["output"][0]["content"] == [
            {"type": "audio", "transcript": final["transcript"]}
        ]
        deltas = [e for e in events if e["type"] == "response.audio.delta"]
        usage = done["usage"]
        assert usage["output_tokens_details"]["audio_tokens"] == audio_tokens(pcm_seconds(deltas))
        assert usage["output_tokens_details"]["text_tokens"] == text_tokens(final["transcript"])

    entries = realtime_entries(fresh)
    assert [e["model"] for e in entries] == [MODEL, MODEL]
    assert [e["outcome"] for e in entries] == ["ok", "ok"]
    assert {e["realtime"]["session_id"] for e in entries} == {created["id"]}


def test_each_utterance_is_found_where_the_speech_is(fresh: Emulator) -> None:
    run(fresh, session_config(voice=None))
    truth = speech_timeline(LAYOUT).speech
    entries = realtime_entries(fresh)
    assert len(entries) == len(truth)
    for entry, (start_s, end_s) in zip(entries, truth, strict=True):
        heard = entry["realtime"]["utterance"]
        # The detector pads its regions by 0.1 s and works in 30 ms frames.
        assert abs(heard["start_s"] - start_s) < 0.25 and abs(heard["end_s"] - end_s) < 0.25


def test_text_only_mode_sends_text_events_and_no_audio(fresh: Emulator) -> None:
    received = run(fresh, session_config(target="th", voice=None))
    assert not received.errors
    responses = received.responses()
    assert len(responses) == 2
    for events in responses:
        assert collapsed([e["type"] for e in events]) == TEXT_ORDER
        final = next(e for e in events if e["type"] == "response.text.done")
        done = events[-1]["response"]
        assert done["output"][0]["content"] == [{"type": "text", "text": final["text"]}]
        assert done["usage"]["output_tokens_details"]["audio_tokens"] == 0
        assert done["usage"]["output_tokens_details"]["text_tokens"] == text_tokens(final["text"])
    assert not received.of("response.audio.delta")


@pytest.mark.parametrize("output_format", ["pcm24", "pcm16"])
def test_both_output_format_names_give_24_khz_audio(fresh: Emulator, output_format: str) -> None:
    received = run(
        fresh, session_config(output_audio_format=output_format), layout=[0.5, "en_3.flac", 0.5]
    )
    assert not received.errors
    assert received.of("session.updated")[0]["session"]["output_audio_format"] == output_format
    deltas = received.of("response.audio.delta")
    pcm = b"".join(base64.b64decode(d["delta"]) for d in deltas)
    assert len(pcm) % 2 == 0 and pcm_seconds(deltas) > 0.1


def test_transcription_events_carry_the_source_text_and_are_billed(fresh: Emulator) -> None:
    received = run(fresh, session_config(target="en", voice="Cherry", source="zh"))
    assert not received.errors
    for events in received.responses():
        partial = [
            e for e in events if e["type"] == "conversation.item.input_audio_transcription.text"
        ]
        completed = [
            e
            for e in events
            if e["type"] == "conversation.item.input_audio_transcription.completed"
        ]
        assert partial and len(completed) == 1
        transcript = completed[0]["transcript"]
        assert transcript and partial[-1]["text"] + partial[-1]["stash"] == transcript
        assert all(e["language"] == "zh" for e in [*partial, *completed])
        # The transcript comes before the translation of the same utterance.
        assert events.index(completed[0]) < [e["type"] for e in events].index("response.created")
        translation = next(e for e in events if e["type"] == "response.audio_transcript.done")
        usage = events[-1]["response"]["usage"]
        assert usage["output_tokens_details"]["text_tokens"] == text_tokens(
            translation["transcript"]
        ) + text_tokens(transcript)
    for entry in realtime_entries(fresh):
        assert entry["realtime"]["transcript_tokens"] > 0


def test_usage_follows_the_formulas_and_matches_the_ledger(fresh: Emulator) -> None:
    frame = jpeg(1280, 720)
    # Two frames during the first utterance (blocks 15 and 25 are 1.5 s and 2.5 s in).
    received = run(fresh, session_config(target="fr"), images=[(15, frame), (25, frame)])
    assert not received.errors
    done = [e["response"] for e in received.of("response.done")]
    entries = realtime_entries(fresh)
    assert [e["request_id"] for e in entries] == [r["id"] for r in done]

    windows = [e["realtime"]["window"] for e in entries]
    assert windows[0]["start_s"] == 0.0 and windows[1]["start_s"] == windows[0]["end_s"]
    frame_tokens = image_tokens(width=1280, height=720)
    assert frame_tokens == 588  # 1,175.5 tiles of 28 x 28 at half a token each
    for response, entry, images in zip(done, entries, (2, 0), strict=True):
        usage = response["usage"]
        window_s = entry["realtime"]["window"]["end_s"] - entry["realtime"]["window"]["start_s"]
        assert entry["media_duration_s"] == pytest.approx(window_s, abs=1e-6)
        inputs = usage["input_tokens_details"]
        assert inputs["audio_tokens"] == audio_tokens(window_s)
        assert inputs["image_tokens"] == images * frame_tokens
        assert usage["input_tokens"] == inputs["audio_tokens"] + inputs["image_tokens"]
        outputs = usage["output_tokens_details"]
        assert usage["output_tokens"] == outputs["text_tokens"] + outputs["audio_tokens"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        # The ledger keeps the usage as sent, and books it in the file API's kinds.
        assert entry["realtime"]["usage"] == usage
        assert entry["realtime"]["images"] == images
        assert entry["usage"]["prompt_tokens_details"]["audio_tokens"] == inputs["audio_tokens"]
        assert (
            entry["usage"]["prompt_tokens_details"].get("video_tokens", 0) == inputs["image_tokens"]
        )
        assert entry["usage"]["completion_tokens"] == usage["output_tokens"]
    # Every second of audio up to the last utterance's detection is billed exactly once.
    audio_in = sum(r["usage"]["input_tokens_details"]["audio_tokens"] for r in done)
    assert audio_in >= math.ceil(12.5 * windows[-1]["end_s"])
    assert audio_in <= math.ceil(12.5 * windows[-1]["end_s"]) + len(done)


def test_events_never_carry_the_true_timestamps(fresh: Emulator) -> None:
    received = run(fresh, session_config(source="en"))
    allowed_numbers = {"output_index", "content_index"}

    def numbers(value: Any, path: str = "") -> list[str]:
        if isinstance(value, dict):
            if path.endswith("usage"):
                return []
            return [p for k, v in value.items() for p in numbers(v, f"{path}.{k}")]
        if isinstance(value, list):
            return [p for v in value for p in numbers(v, path)]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return [] if path.rsplit(".", 1)[-1] in allowed_numbers else [path]
        return []

    leaks = [p for e in received.events for p in numbers(e)]
    assert leaks == []
    assert not any(key.endswith(("_ms", "_s")) for e in received.events for key in e)


def test_session_finish_without_speech_just_finishes(fresh: Emulator) -> None:
    received = run(fresh, session_config(), layout=[2.0])
    assert received.types == ["session.created", "session.updated", "session.finished"]
    assert realtime_entries(fresh) == []


def test_an_utterance_still_open_at_finish_is_answered(fresh: Emulator) -> None:
    # The file ends mid-speech: session.finish closes the utterance where the audio stops.
    received = run(fresh, session_config(voice=None), layout=[0.5, "en_0.flac"])
    assert len(received.of("response.done")) == 1
    assert received.types[-1] == "session.finished"


def test_frames_at_two_per_second_throughout_are_billed_in_their_windows(fresh: Emulator) -> None:
    # As the provider's image sample does: a frame every 0.5 s alongside the audio.
    samples = speech_timeline(LAYOUT).samples
    blocks = math.ceil(samples.size / 1600)
    frame = jpeg(640, 480)
    sent = [(index, frame) for index in range(0, blocks, 5)]
    received = run(fresh, session_config(target="es"), images=sent)
    assert not received.errors
    # Each frame arrives after its block: at that much audio on the session's timeline.
    positions = [(index + 1) * 1600 / 16_000 for index, _ in sent]
    for entry in realtime_entries(fresh):
        window = entry["realtime"]["window"]
        inside = [p for p in positions if window["start_s"] <= p < window["end_s"]]
        assert entry["realtime"]["images"] == len(inside) > 0
        assert entry["realtime"]["usage"]["input_tokens_details"]["image_tokens"] == 196 * len(
            inside
        )
