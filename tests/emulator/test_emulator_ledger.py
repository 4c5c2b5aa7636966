"""The ledger: what the "provider" charged, request by request, for tests to compare with
what the service recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from support.emulator import (
    API_KEY,
    Emulator,
    audio_message,
    data_uri,
    request_body,
    soundtrack,
    sse_json,
    video_message,
)
from support.media import write_video


def test_a_served_request_is_recorded_with_what_it_billed(
    fresh: Emulator, speech_wav: Path
) -> None:
    response = fresh.post(request_body(audio_message(data_uri(speech_wav))))
    usage_chunk = sse_json(response.text)[-1]["usage"]

    [entry] = fresh.ledger()
    assert entry["request_id"] == response.headers["x-request-id"]
    assert entry["model"] == "qwen3-livetranslate-flash"
    assert (entry["outcome"], entry["status"], entry["finish_reason"]) == ("ok", 200, "stop")
    assert entry["error_code"] is None
    assert entry["input_kind"] == "audio"
    assert entry["media_duration_s"] == 12.8125
    assert entry["usage"] == usage_chunk


def test_keys_are_recorded_without_giving_them_away(fresh: Emulator, short_wav: Path) -> None:
    fresh.post(request_body(audio_message(data_uri(short_wav))))
    fresh.post(request_body(audio_message(data_uri(short_wav))), key="sk-short")
    raw = fresh.http.get(f"{fresh.root_url}/_emulator/ledger").text
    assert API_KEY not in raw and "sk-short" not in raw
    served, refused = fresh.ledger()
    assert served["key"] == "…" + API_KEY[-4:]
    assert served["key_sha256"] == hashlib.sha256(API_KEY.encode()).hexdigest()[:16]
    # A short key shows nothing of itself, and a refused one is still recorded.
    assert (refused["key"], refused["status"], refused["error_code"]) == (
        "…",
        401,
        "invalid_api_key",
    )


def test_a_truncated_response_is_recorded_as_length(fresh: Emulator, speech_wav: Path) -> None:
    response = fresh.post(request_body(audio_message(data_uri(speech_wav)), max_tokens=10))
    entry = fresh.entry(response.headers["x-request-id"])
    assert (entry["outcome"], entry["finish_reason"]) == ("length", "length")
    assert entry["usage"]["completion_tokens"] == 10


def test_a_client_that_walks_away_is_billed_for_what_was_sent(
    fresh: Emulator, speech_wav: Path
) -> None:
    headers = {"Authorization": f"Bearer {fresh.api_key}", "x-emulator-fault": "stall"}
    body = request_body(audio_message(data_uri(speech_wav)))
    with fresh.http.stream(
        "POST", f"{fresh.base_url}/chat/completions", json=body, headers=headers
    ) as response:
        request_id = response.headers["x-request-id"]
        first = json.loads(next(response.iter_lines()).removeprefix("data: "))
    # Leaving the block closed the connection mid-stream.
    entry = fresh.entry(request_id)
    assert entry["outcome"] == "client_disconnected"
    sent_text = first["choices"][0]["delta"]["content"]
    assert entry["usage"]["completion_tokens_details"] == {
        "text_tokens": -(-len(sent_text) // 4),
        "audio_tokens": 0,
    }
    assert entry["usage"]["prompt_tokens"] == 161


def test_video_entries_carry_video_tokens(fresh: Emulator, media_dir: Path) -> None:
    clip = write_video(
        media_dir / "ledger.mp4",
        width=64,
        height=48,
        fps=25,
        seconds=4.0,
        audio=soundtrack(64, [0.2]),
    )
    fresh.post(request_body(video_message(data_uri(clip, "video/mp4")), voice=None))
    [entry] = fresh.ledger()
    assert entry["input_kind"] == "video"
    # See test_emulator_billing: 562 video tokens, 52 audio tokens.
    assert entry["usage"]["prompt_tokens_details"] == {
        "audio_tokens": 52,
        "text_tokens": 0,
        "video_tokens": 562,
    }


def test_reset_empties_the_ledger_and_totals_add_up(fresh: Emulator, short_wav: Path) -> None:
    for _ in range(2):
        fresh.post(request_body(audio_message(data_uri(short_wav))))
    summary = fresh.http.get(f"{fresh.root_url}/_emulator/ledger").json()
    usages = [e["usage"] for e in summary["entries"]]
    assert summary["totals"]["total"] == sum(u["total_tokens"] for u in usages)
    assert summary["totals"]["input_audio"] == sum(
        u["prompt_tokens_details"]["audio_tokens"] for u in usages
    )
    fresh.reset()
    assert fresh.ledger() == []


def test_the_ledger_keeps_the_clients_own_request_id(fresh: Emulator, speech_wav) -> None:
    """X-Client-Request-Id lets a client that never read the response find its request."""
    response = fresh.post(
        request_body(audio_message(data_uri(speech_wav))),
        headers={"X-Client-Request-Id": "record-123"},
    )
    assert response.status_code == 200
    (entry,) = fresh.ledger()
    assert entry["client_request_id"] == "record-123"
