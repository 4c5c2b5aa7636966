"""Validating a chat-completions request the way the provider does, before any media is read.

Every refusal is a ProviderError carrying the real status and code; the checks run in the
order a reader of docs/provider.md's "Request" section would expect: model, messages, content,
languages, modalities and voice, streaming, output limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from emulator.config import MODELS
from emulator.errors import invalid_parameter, model_not_found
from ltb.languages import AUDIO_TARGETS, LANGUAGES, VOICES

MediaKind = Literal["audio", "video"]


@dataclass(frozen=True, slots=True)
class TranslationRequest:
    model: str
    media_kind: MediaKind
    # A data URI or an http(s) URL; never logged, it may be megabytes long.
    media_ref: str
    target_lang: str
    source_lang: str | None
    voice: str | None  # set only when audio output was asked for
    max_tokens: int | None
    include_usage: bool

    @property
    def wants_audio(self) -> bool:
        return self.voice is not None


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise invalid_parameter("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid_parameter("The request body must be a JSON object.")
    return body


def validate(body: dict[str, Any]) -> TranslationRequest:
    """The request as the emulator will serve it, or the provider's refusal."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_parameter('Required parameter "model" missing from request.', param="model")
    if model not in MODELS:
        raise model_not_found(model)
    media_kind, media_ref = _media(body.get("messages"))
    target_lang, source_lang = _languages(body.get("translation_options"))
    voice = _voice(body, target_lang)
    if body.get("stream") is not True:
        raise invalid_parameter(
            "This model only support stream mode, please enable the stream parameter "
            "to access the model.",
            param="stream",
        )
    stream_options = body.get("stream_options") or {}
    include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
    return TranslationRequest(
        model=model,
        media_kind=media_kind,
        media_ref=media_ref,
        target_lang=target_lang,
        source_lang=source_lang,
        voice=voice,
        max_tokens=_max_tokens(body),
        include_usage=include_usage,
    )


def _media(messages: Any) -> tuple[MediaKind, str]:
    if not isinstance(messages, list) or not messages:
        raise invalid_parameter("messages must be a non-empty array.", param="messages")
    if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
        raise invalid_parameter(
            "System messages are not supported by this model; send one user message.",
            param="messages",
        )
    if len(messages) != 1 or not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        raise invalid_parameter(
            "This model translates one file per request: messages must hold exactly one "
            "message, with role 'user'.",
            param="messages",
        )
    content = messages[0].get("content")
    if not isinstance(content, list) or len(content) != 1 or not isinstance(content[0], dict):
        raise invalid_parameter(
            "The user message's content must be an array with exactly one input_audio or "
            "video_url item.",
            param="messages.content",
        )
    item = content[0]
    kind = item.get("type")
    if kind == "input_audio":
        audio = item.get("input_audio")
        ref = audio.get("data") if isinstance(audio, dict) else None
        param = "messages.content.input_audio.data"
    elif kind == "video_url":
        video = item.get("video_url")
        ref = video.get("url") if isinstance(video, dict) else None
        param = "messages.content.video_url.url"
    else:
        raise invalid_parameter(
            f"Unsupported content type {kind!r}; use 'input_audio' or 'video_url'.",
            param="messages.content.type",
        )
    if not isinstance(ref, str) or not ref:
        raise invalid_parameter("The media reference is missing or empty.", param=param)
    return ("audio" if kind == "input_audio" else "video"), ref


def _languages(options: Any) -> tuple[str, str | None]:
    if not isinstance(options, dict):
        raise invalid_parameter(
            "translation_options with a target_lang is required.", param="translation_options"
        )
    target = options.get("target_lang")
    if not isinstance(target, str) or target not in LANGUAGES:
        raise invalid_parameter(
            f"Unsupported target_lang {target!r}; supported: {', '.join(LANGUAGES)}.",
            param="translation_options.target_lang",
        )
    source = options.get("source_lang")
    if source is not None and (not isinstance(source, str) or source not in LANGUAGES):
        raise invalid_parameter(
            f"Unsupported source_lang {source!r}; supported: {', '.join(LANGUAGES)}.",
            param="translation_options.source_lang",
        )
    return target, source


def _voice(body: dict[str, Any], target_lang: str) -> str | None:
    modalities = body.get("modalities", ["text"])
    if modalities == ["text"]:
        return None
    if not isinstance(modalities, list) or sorted(map(str, modalities)) != ["audio", "text"]:
        raise invalid_parameter(
            'modalities must be ["text"] or ["text", "audio"].', param="modalities"
        )
    if target_lang not in AUDIO_TARGETS:
        raise invalid_parameter(
            f"Audio output is not supported for target_lang {target_lang!r}; "
            f'it is available for {", ".join(sorted(AUDIO_TARGETS))}. Use modalities ["text"].',
            param="modalities",
        )
    audio = body.get("audio")
    voice = audio.get("voice") if isinstance(audio, dict) else None
    if not isinstance(voice, str) or voice not in VOICES:
        raise invalid_parameter(
            f"Invalid voice {voice!r}; supported voices: {', '.join(VOICES)}.",
            param="audio.voice",
        )
    if target_lang not in VOICES[voice]:
        raise invalid_parameter(
            f"Voice {voice} does not support target_lang {target_lang!r}.", param="audio.voice"
        )
    audio_format = audio.get("format", "wav") if isinstance(audio, dict) else "wav"
    if audio_format != "wav":
        raise invalid_parameter(
            f"Unsupported audio format {audio_format!r}; use 'wav'.", param="audio.format"
        )
    return voice


def _max_tokens(body: dict[str, Any]) -> int | None:
    limits = []
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise invalid_parameter(f"{name} must be a positive integer.", param=name)
        limits.append(value)
    return min(limits) if limits else None
