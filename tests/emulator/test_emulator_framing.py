"""The stream's framing, read as raw HTTP: what any client, not only the SDK, relies on."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import pytest

from ltb.languages import LANGUAGES

from support.emulator import Emulator, audio_message, data_uri, request_body, sse_events


@pytest.mark.parametrize("path", ["/compatible-mode/v1/chat/completions", "/v1/chat/completions"])
def test_events_come_in_the_providers_order_and_shape(
    fresh: Emulator, speech_wav: Path, path: str
) -> None:
    response = fresh.post(request_body(audio_message(data_uri(speech_wav))), path=path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    request_id = response.headers["x-request-id"]

    # Every event is exactly `data: <payload>\n\n`, and [DONE] is the last.
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    assert "[DONE]" not in events[:-1]
    chunks = [json.loads(event) for event in events[:-1]]

    kinds = []
    for chunk in chunks:
        if not chunk["choices"]:
            kinds.append("usage")
            continue
        choice = chunk["choices"][0]
        delta = choice["delta"]
        if choice["finish_reason"] is not None:
            assert delta == {}
            kinds.append("finish")
        elif "content" in delta:
            assert "audio" not in delta
            kinds.append("text")
        else:
            assert "content" not in delta
            assert set(delta) == {"audio"}
            kinds.append("audio")
    texts, audios = kinds.count("text"), kinds.count("audio")
    assert texts >= 2 and audios >= 2, "text and audio each come in several deltas"
    assert kinds == ["text"] * texts + ["audio"] * audios + ["finish", "usage"]

    assert {c["id"] for c in chunks} == {f"chatcmpl-{request_id}"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["created"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {"qwen3-livetranslate-flash"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"

    audio_deltas = [
        c["choices"][0]["delta"]["audio"] for c in chunks if kinds[chunks.index(c)] == "audio"
    ]
    assert len({a["id"] for a in audio_deltas}) == 1
    assert audio_deltas[0]["id"].startswith("audio_")
    assert all(a["expires_at"] > time.time() for a in audio_deltas)
    # Raw PCM16: whole samples, no RIFF header.
    pcm = b"".join(base64.b64decode(a["data"]) for a in audio_deltas)
    assert len(pcm) % 2 == 0 and not pcm.startswith(b"RIFF")

    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert set(usage_chunk["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    }
    assert "video_tokens" not in usage_chunk["usage"]["prompt_tokens_details"]


def test_text_only_output_has_no_audio_deltas(fresh: Emulator, short_wav: Path) -> None:
    response = fresh.post(request_body(audio_message(data_uri(short_wav)), target="th", voice=None))
    chunks = [json.loads(e) for e in sse_events(response.text)[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert not any("audio" in d for d in deltas)
    assert chunks[-1]["usage"]["completion_tokens_details"]["audio_tokens"] == 0


def test_without_include_usage_there_is_no_usage_chunk(fresh: Emulator, short_wav: Path) -> None:
    # OpenAI's rule, which the compatible mode follows: usage only when asked for.
    body = request_body(audio_message(data_uri(short_wav)), stream_options={"include_usage": False})
    events = sse_events(fresh.post(body).text)
    chunks = [json.loads(e) for e in events[:-1]]
    assert events[-1] == "[DONE]"
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)


SCRIPT_CHECKS = {
    "zh": lambda c: "\u4e00" <= c <= "\u9fff" or c == "。",
    "yue": lambda c: "\u4e00" <= c <= "\u9fff" or c == "。",
    "ja": lambda c: "\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" or c == "。",
    "ko": lambda c: "\uac00" <= c <= "\ud7af" or c in " .",
    "th": lambda c: "\u0e00" <= c <= "\u0e7f" or c == " ",
    "ru": lambda c: "\u0400" <= c <= "\u04ff" or c in " .",
    "el": lambda c: "\u0370" <= c <= "\u03ff" or c in " .",
    "ar": lambda c: "\u0600" <= c <= "\u06ff" or c in " .",
    "hi": lambda c: "\u0900" <= c <= "\u097f" or c == " ",
}


@pytest.mark.parametrize("target", list(LANGUAGES))
def test_the_translation_is_written_in_the_targets_script(
    fresh: Emulator, speech_wav: Path, target: str
) -> None:
    body = request_body(audio_message(data_uri(speech_wav)), target=target, voice=None)
    text = text_of(fresh.post(body))
    check = SCRIPT_CHECKS.get(target, lambda c: c.isascii() or c.isalpha() or c in " .")
    assert text and all(check(c) for c in text), text
    assert not any(c.isdigit() for c in text), "never a timestamp, never a number"
    # Two speech regions, two sentences; the same input always gives the same text.
    stops = {"zh": "。", "yue": "。", "ja": "。", "hi": "।", "th": None}
    stop = stops.get(target, ".")
    if stop:
        assert text.count(stop) == 2 and text.endswith(stop)
    assert text_of(fresh.post(body)) == text


def text_of(response: httpx.Response) -> str:
    chunks = [json.loads(e) for e in sse_events(response.text)[:-1]]
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
