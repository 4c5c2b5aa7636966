"""Refusals: the real status codes and error bodies, for every validation the provider does."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from support.emulator import (
    MODEL,
    Emulator,
    audio_message,
    data_uri,
    request_body,
    sdk_arguments,
    video_message,
)
from support.media import write_video

Body = dict[str, Any]


def assert_provider_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The body is exactly {"error": {message, type, param, code}, "request_id"}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert response.headers["x-request-id"] == body["request_id"]
    error: dict[str, Any] = body["error"]
    return error


def edit(change: Callable[[Body], None]) -> Callable[[Body], Body]:
    def apply(body: Body) -> Body:
        edited = copy.deepcopy(body)
        change(edited)
        return edited

    return apply


def _set(path: str, value: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        *parents, leaf = path.split(".")
        node = body
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[leaf]
        elif isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return change


_DELETE = object()


def _media(ref: str) -> Callable[[Body], None]:
    return _set("messages", audio_message(ref))


# name -> (how the valid request is spoiled, status, code, param)
INVALID = {
    "unknown model": (_set("model", "qwen-nonexistent"), 404, "model_not_found", "model"),
    "missing model": (_set("model", _DELETE), 400, "InvalidParameter", "model"),
    "no messages": (_set("messages", []), 400, "InvalidParameter", "messages"),
    "two user messages": (
        lambda b: b["messages"].append(copy.deepcopy(b["messages"][0])),
        400,
        "InvalidParameter",
        "messages",
    ),
    "an assistant message": (
        _set("messages.0.role", "assistant"),
        400,
        "InvalidParameter",
        "messages",
    ),
    "a system message": (
        lambda b: b["messages"].insert(0, {"role": "system", "content": "Translate."}),
        400,
        "InvalidParameter",
        "messages",
    ),
    "string content": (
        _set("messages.0.content", "translate this"),
        400,
        "InvalidParameter",
        "messages.content",
    ),
    "two content items": (
        lambda b: b["messages"][0]["content"].append(copy.deepcopy(b["messages"][0]["content"][0])),
        400,
        "InvalidParameter",
        "messages.content",
    ),
    "text content type": (
        _set("messages.0.content", [{"type": "text", "text": "hello"}]),
        400,
        "InvalidParameter",
        "messages.content.type",
    ),
    "no translation_options": (
        _set("translation_options", _DELETE),
        400,
        "InvalidParameter",
        "translation_options",
    ),
    "unknown target_lang": (
        _set("translation_options.target_lang", "xx"),
        400,
        "InvalidParameter",
        "translation_options.target_lang",
    ),
    "unknown source_lang": (
        _set("translation_options.source_lang", "klingon"),
        400,
        "InvalidParameter",
        "translation_options.source_lang",
    ),
    "audio for a text-only target": (
        _set("translation_options.target_lang", "th"),
        400,
        "InvalidParameter",
        "modalities",
    ),
    "a voice that cannot speak the target": (
        _set("audio.voice", "Kiki"),
        400,
        "InvalidParameter",
        "audio.voice",
    ),
    "an unknown voice": (_set("audio.voice", "Alloy"), 400, "InvalidParameter", "audio.voice"),
    "audio without a voice": (_set("audio", _DELETE), 400, "InvalidParameter", "audio.voice"),
    "audio only modality": (_set("modalities", ["audio"]), 400, "InvalidParameter", "modalities"),
    "stream false": (_set("stream", False), 400, "InvalidParameter", "stream"),
    "stream missing": (_set("stream", _DELETE), 400, "InvalidParameter", "stream"),
    "max_tokens zero": (_set("max_tokens", 0), 400, "InvalidParameter", "max_tokens"),
    "empty data URI": (
        _media("data:audio/wav;base64,"),
        400,
        "InvalidParameter",
        "messages.content.input_audio.data",
    ),
    "data URI without base64": (
        _media("data:audio/wav,RIFF"),
        400,
        "InvalidParameter",
        "messages.content.input_audio.data",
    ),
    "invalid base64": (
        _media("data:audio/wav;base64,@@not-base64@@"),
        400,
        "InvalidParameter",
        "messages.content.input_audio.data",
    ),
    "undecodable media": (
        _media("data:audio/wav;base64," + base64.b64encode(b"\x13\x37" * 4000).decode()),
        400,
        "InvalidParameter",
        "messages.content.input_audio.data",
    ),
    "a file path": (
        _media("file:///etc/passwd"),
        400,
        "InvalidParameter",
        "messages.content.input_audio.data",
    ),
    "a non-loopback URL": (
        _media("http://example.com/speech.wav"),
        400,
        "InvalidParameter",
        "messages.content.input_audio.data",
    ),
}


@pytest.fixture(scope="module")
def valid_body(short_wav: Path) -> Body:
    return request_body(audio_message(data_uri(short_wav)), target="en", source="zh")


def test_the_unspoiled_request_is_served(fresh: Emulator, valid_body: Body) -> None:
    assert fresh.post(valid_body).status_code == 200


@pytest.mark.parametrize(("spoil", "status", "code", "param"), INVALID.values(), ids=INVALID.keys())
def test_invalid_requests_get_the_providers_error(
    fresh: Emulator,
    valid_body: Body,
    spoil: Callable[[Body], None],
    status: int,
    code: str,
    param: str,
) -> None:
    response = fresh.post(edit(spoil)(valid_body))
    error = assert_provider_error(response, status, code)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    entry = fresh.entry(response.json()["request_id"])
    assert (entry["outcome"], entry["status"], entry["error_code"]) == ("error", status, code)
    assert entry["usage"]["total_tokens"] == 0, "refusals bill nothing"


def test_a_body_that_is_not_json_is_refused(fresh: Emulator) -> None:
    response = fresh.http.post(
        f"{fresh.base_url}/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {fresh.api_key}", "content-type": "application/json"},
    )
    assert_provider_error(response, 400, "InvalidParameter")


def test_a_url_that_cannot_be_downloaded_is_refused(fresh: Emulator, valid_body: Body) -> None:
    # A loopback URL (allowed) that answers 404: the emulator's own unknown path.
    body = edit(_media(f"{fresh.root_url}/no-such-file.wav"))(valid_body)
    error = assert_provider_error(fresh.post(body), 400, "InvalidParameter")
    assert "404" in error["message"]


def test_a_data_uri_over_the_limit_is_refused_naming_it(fresh: Emulator, valid_body: Body) -> None:
    # 10,485,760 characters is the most one data URI may hold; this one has one more.
    prefix = "data:audio/wav;base64,"
    oversized = prefix + "A" * (10_485_760 - len(prefix) + 1)
    error = assert_provider_error(
        fresh.post(edit(_media(oversized))(valid_body)), 400, "InvalidParameter"
    )
    assert "10,485,760" in error["message"]


def test_media_without_a_video_stream_is_refused_as_video(fresh: Emulator, short_wav: Path) -> None:
    body = request_body(video_message(data_uri(short_wav)), voice=None)
    assert_provider_error(fresh.post(body), 400, "InvalidParameter")


def test_a_video_without_a_soundtrack_is_refused(fresh: Emulator, media_dir: Path) -> None:
    silent = write_video(media_dir / "mute.mp4", width=320, height=240, fps=10, seconds=1.0)
    body = request_body(video_message(data_uri(silent, "video/mp4")), voice=None)
    error = assert_provider_error(fresh.post(body), 400, "InvalidParameter")
    assert "soundtrack" in error["message"]


def test_an_unknown_fault_header_is_refused(fresh: Emulator, valid_body: Body) -> None:
    response = fresh.post(valid_body, headers={"x-emulator-fault": "meteor"})
    assert_provider_error(response, 400, "InvalidParameter")


# --- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic c2stdGVzdA==", "Bearer sk-wrong-key-0000", "sk-emulator-test"],
)
def test_a_missing_or_wrong_key_gets_401(
    fresh: Emulator, valid_body: Body, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = fresh.http.post(
        f"{fresh.base_url}/chat/completions", json=valid_body, headers=headers
    )
    error = assert_provider_error(response, 401, "invalid_api_key")
    assert error["type"] == "invalid_request_error"
    assert fresh.api_key not in response.text


def test_the_sdk_raises_typed_errors_with_the_request_id(fresh: Emulator, valid_body: Body) -> None:
    with (
        fresh.client(api_key="sk-wrong", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError) as denied,
    ):
        client.chat.completions.create(**sdk_arguments(valid_body))
    assert denied.value.code == "invalid_api_key"
    assert denied.value.request_id

    with fresh.client(max_retries=0) as client:
        with pytest.raises(openai.NotFoundError) as missing:
            client.chat.completions.create(**sdk_arguments(valid_body | {"model": "qwen-max-x"}))
        assert missing.value.code == "model_not_found"

        body = copy.deepcopy(valid_body)
        body["translation_options"]["target_lang"] = "vi"
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(**sdk_arguments(body))
    assert refused.value.code == "InvalidParameter"
    assert refused.value.param == "modalities"
    assert refused.value.request_id == refused.value.response.json()["request_id"]


def test_the_env_key_is_the_default(capped: Emulator, valid_body: Body) -> None:
    # `capped` was started with LTB_EMULATOR_API_KEY set and no --api-key.
    assert capped.post(valid_body).status_code == 200
    response = capped.post(valid_body, key="sk-some-other-key")
    assert_provider_error(response, 401, "invalid_api_key")


def test_with_no_key_configured_any_key_works(limited: Emulator, valid_body: Body) -> None:
    response = limited.post(valid_body, key="sk-anything-at-all-401-test")
    assert response.status_code == 200
    response = limited.http.post(f"{limited.base_url}/chat/completions", json=valid_body)
    assert_provider_error(response, 401, "invalid_api_key")


def test_the_model_snapshot_name_is_served(fresh: Emulator, valid_body: Body) -> None:
    response = fresh.post(valid_body | {"model": f"{MODEL}-2025-12-01"})
    assert response.status_code == 200
