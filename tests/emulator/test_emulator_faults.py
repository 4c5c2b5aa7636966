"""Injected faults: forced per request with `x-emulator-fault` (an emulator-only header; the
SDK passes it with `extra_headers`), or drawn at seeded rates."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from support.emulator import (
    Emulator,
    audio_data,
    audio_message,
    data_uri,
    read_all,
    request_body,
    sdk_arguments,
)


def fault(kind: str) -> dict[str, Any]:
    return {"extra_headers": {"x-emulator-fault": kind}}


@pytest.fixture(scope="module")
def speech_body(speech_wav: Path) -> dict[str, Any]:
    return request_body(audio_message(data_uri(speech_wav)))


def test_forced_429_is_a_burst_limit(fresh: Emulator, speech_body: dict[str, Any]) -> None:
    response = fresh.post(speech_body, headers={"x-emulator-fault": "429"})
    assert response.status_code == 429
    body = response.json()
    assert body["error"]["code"] == "limit_burst_rate"
    assert response.headers["retry-after"] == "1"
    assert fresh.entry(body["request_id"])["usage"]["total_tokens"] == 0


def test_an_injected_429_asks_for_the_configured_retry_after(
    fresh: Emulator, speech_body: dict[str, Any]
) -> None:
    # Clients must survive a provider asking them to come back tomorrow.
    fresh.configure(retry_after_s=86_400)
    try:
        response = fresh.post(speech_body, headers={"x-emulator-fault": "429"})
    finally:
        fresh.configure(retry_after_s=1)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "86400"


def test_every_answer_names_the_emulator(fresh: Emulator, speech_body: dict[str, Any]) -> None:
    refused = fresh.post(speech_body, headers={"x-emulator-fault": "429"})
    served = fresh.post(speech_body)
    assert served.status_code == 200
    assert refused.headers["x-ltb-emulator"] == served.headers["x-ltb-emulator"] == "1"


def test_forced_500_is_an_internal_error_the_sdk_retries(
    fresh: Emulator, speech_body: dict[str, Any]
) -> None:
    # The SDK retries 5xx on its own: with max_retries=1 the emulator sees two requests.
    with (
        fresh.client(max_retries=1) as client,
        pytest.raises(openai.InternalServerError) as failed,
    ):
        client.chat.completions.create(**sdk_arguments(speech_body), **fault("500"))
    assert failed.value.code == "internal_error"
    entries = fresh.ledger()
    assert [(e["status"], e["error_code"]) for e in entries] == [(500, "internal_error")] * 2


def test_forced_input_moderation_is_a_400(fresh: Emulator, speech_body: dict[str, Any]) -> None:
    response = fresh.post(speech_body, headers={"x-emulator-fault": "moderation-input"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "data_inspection_failed"
    assert response.json()["error"]["code"] == "data_inspection_failed"


def test_a_cut_stream_breaks_the_connection_and_bills_what_was_sent(
    fresh: Emulator, speech_body: dict[str, Any]
) -> None:
    chunks: list[Any] = []
    with fresh.client(max_retries=0) as client:
        stream = client.chat.completions.create(**sdk_arguments(speech_body), **fault("cut"))
        request_id = stream.response.headers["x-request-id"]
        with pytest.raises(openai.APIConnectionError):
            read_all(stream, chunks)
    assert chunks, "the cut comes after at least one delta"
    assert all(c.choices for c in chunks), "no usage chunk before the cut"
    assert all(c.choices[0].finish_reason is None for c in chunks), "no finish chunk either"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    audio_b64 = "".join(audio_data(c.choices[0].delta) or "" for c in chunks)

    entry = fresh.entry(request_id)
    assert (entry["outcome"], entry["finish_reason"]) == ("cut", None)
    # Billed: the input plus exactly the output the client received.
    dub_s = len(base64.b64decode(audio_b64)) / 2 / 24_000
    assert entry["usage"]["prompt_tokens"] == 161
    assert entry["usage"]["completion_tokens_details"] == {
        "text_tokens": math.ceil(len(text) / 4),
        "audio_tokens": math.ceil(12.5 * max(1.0, dub_s)) if audio_b64 else 0,
    }


def test_a_cut_stream_is_an_incomplete_body_on_the_wire(
    fresh: Emulator, speech_body: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {fresh.api_key}", "x-emulator-fault": "cut"}
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        fresh.http.stream(
            "POST", f"{fresh.base_url}/chat/completions", json=speech_body, headers=headers
        ) as response,
    ):
        received.extend(response.iter_lines())
    assert received and "data: [DONE]" not in received


def test_moderation_mid_stream_raises_the_providers_error(
    fresh: Emulator, speech_body: dict[str, Any]
) -> None:
    with fresh.client(max_retries=0) as client:
        stream = client.chat.completions.create(**sdk_arguments(speech_body), **fault("moderation"))
        request_id = stream.response.headers["x-request-id"]
        chunks: list[Any] = []
        with pytest.raises(openai.APIError) as moderated:
            read_all(stream, chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert moderated.value.code == "data_inspection_failed"
    assert moderated.value.type == "data_inspection_failed"
    entry = fresh.entry(request_id)
    assert (entry["outcome"], entry["status"], entry["error_code"]) == (
        "error",
        200,
        "data_inspection_failed",
    )
    assert entry["usage"]["completion_tokens_details"]["text_tokens"] == math.ceil(len(text) / 4)


def test_moderation_line_is_the_error_body_then_the_stream_ends(
    fresh: Emulator, speech_body: dict[str, Any]
) -> None:
    response = fresh.post(speech_body, headers={"x-emulator-fault": "moderation"})
    events = [block.removeprefix("data: ") for block in response.text.split("\n\n") if block]
    assert events[-1] != "[DONE]"
    last = json.loads(events[-1])
    assert set(last["error"]) >= {"message", "type", "param", "code"}
    assert last["error"]["code"] == "data_inspection_failed"
    assert all("choices" in json.loads(e) for e in events[:-1])


def test_a_stall_trips_the_clients_timeout_and_is_billed_as_abandoned(
    fresh: Emulator, speech_body: dict[str, Any]
) -> None:
    # The emulator holds the stream silent for 30 s after the first delta; the client gives
    # up after 1 s of silence, and the emulator records it as disconnected.
    with fresh.client(max_retries=0, timeout=httpx.Timeout(1.0, connect=5.0)) as client:
        stream = client.chat.completions.create(**sdk_arguments(speech_body), **fault("stall"))
        request_id = stream.response.headers["x-request-id"]
        with pytest.raises(openai.APITimeoutError):
            read_all(stream, [])
    entry = fresh.entry(request_id)
    assert entry["outcome"] == "client_disconnected"
    assert entry["usage"]["prompt_tokens"] == 161
    assert 0 < entry["usage"]["completion_tokens"] <= 10, "only the first delta was sent"


# --- seeded rates ---------------------------------------------------------------------------


def outcome_of(emulator: Emulator, body: dict[str, Any]) -> str:
    """What a raw client sees: a refusal code, a cut connection, a moderation line, or ok."""
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    try:
        with emulator.http.stream(
            "POST", f"{emulator.base_url}/chat/completions", json=body, headers=headers
        ) as response:
            if response.status_code != 200:
                response.read()
                return str(response.json()["error"]["code"])
            lines = [line for line in response.iter_lines() if line]
    except httpx.RemoteProtocolError:
        return "cut"
    if lines[-1] == "data: [DONE]":
        return "ok"
    return str(json.loads(lines[-1].removeprefix("data: "))["error"]["code"])


def test_seeded_faults_repeat_in_the_same_order(faulty: Emulator, short_wav: Path) -> None:
    body = request_body(audio_message(data_uri(short_wav)), voice=None)
    faulty.reset()
    first = [outcome_of(faulty, body) for _ in range(12)]
    ledger = faulty.ledger()
    faulty.reset()
    second = [outcome_of(faulty, body) for _ in range(12)]

    assert first == second
    # Rates of a quarter each: every request meets one of the four faults.
    assert set(first) == {"limit_burst_rate", "internal_error", "cut", "data_inspection_failed"}
    recorded = {
        "limit_burst_rate": ("error", "limit_burst_rate"),
        "internal_error": ("error", "internal_error"),
        "cut": ("cut", None),
        "data_inspection_failed": ("error", "data_inspection_failed"),
    }
    assert [(e["outcome"], e["error_code"]) for e in ledger] == [recorded[o] for o in first]
