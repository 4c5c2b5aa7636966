"""Per-key quota windows: requests per minute and tokens per minute, answered with 429s that
carry the real codes and a Retry-After."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import openai
import pytest

from support.emulator import (
    Emulator,
    audio_message,
    data_uri,
    request_body,
    sdk_arguments,
    sse_json,
)
from support.media import speech_timeline, write_audio


def new_key(purpose: str) -> str:
    """A key of its own per test, so the windows of one test never touch another's."""
    return f"sk-{purpose}-{uuid.uuid4().hex}"


def assert_rate_limited(response: Any, code: str) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == {
        "message": body["error"]["message"],
        "type": code,
        "param": None,
        "code": code,
    }
    assert response.headers["x-request-id"] == body["request_id"]
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    return retry_after


def test_the_fourth_request_in_a_minute_is_refused(limited: Emulator, short_wav: Path) -> None:
    key = new_key("rpm")
    # Refused requests still count: they reached the service (and cost no tokens here).
    unknown_target = request_body(audio_message(data_uri(short_wav)), target="xx")
    for _ in range(3):
        assert limited.post(unknown_target, key=key).status_code == 400
    refused = limited.post(unknown_target, key=key)
    assert assert_rate_limited(refused, "limit_requests") >= 55
    entry = limited.entry(refused.json()["request_id"])
    assert (entry["outcome"], entry["status"], entry["error_code"]) == (
        "error",
        429,
        "limit_requests",
    )
    # The window is per key: another key is untouched.
    assert limited.post(unknown_target, key=new_key("rpm-other")).status_code == 400


def test_the_sdk_sees_a_rate_limit_error(limited: Emulator, short_wav: Path) -> None:
    key = new_key("rpm-sdk")
    body = request_body(audio_message(data_uri(short_wav)), target="xx")
    for _ in range(3):
        limited.post(body, key=key)
    # Retries are the caller's decision; the SDK's own would wait out the Retry-After.
    with (
        limited.client(api_key=key, max_retries=0) as client,
        pytest.raises(openai.RateLimitError) as refused,
    ):
        client.chat.completions.create(**sdk_arguments(body))
    assert refused.value.code == "limit_requests"
    assert int(refused.value.response.headers["retry-after"]) >= 1


def test_tokens_per_minute_count_input_and_output(limited: Emulator, media_dir: Path) -> None:
    # 3.24 s of audio: ceil(12.5 x 3.2381) = 41 input tokens. Two inputs (82) fit in 100
    # tokens a minute, so the refusal below is due to the first request's output.
    clip = write_audio(media_dir / "tpm.wav", speech_timeline([0.1, "en_0.flac", 0.1]))
    body = request_body(audio_message(data_uri(clip)))
    key = new_key("tpm")

    first = limited.post(body, key=key)
    assert first.status_code == 200
    usage = sse_json(first.text)[-1]["usage"]
    assert usage["prompt_tokens"] == 41
    assert usage["total_tokens"] + 41 > 100 >= 2 * 41

    refused = limited.post(body, key=key)
    assert assert_rate_limited(refused, "insufficient_quota") >= 55
    entry = limited.entry(refused.json()["request_id"])
    assert (entry["error_code"], entry["usage"]["total_tokens"]) == ("insufficient_quota", 0)
