"""Reading client events: the JSON frame, its type, and the session configuration that
session.update asks for. Each refusal is a RealtimeError naming the offending field."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from typing import Any

from emulator.realtime.protocol import (
    INPUT_AUDIO_FORMAT,
    OUTPUT_AUDIO_FORMATS,
    TRANSCRIPTION_MODEL,
    RealtimeError,
    invalid_value,
)
from ltb.languages import AUDIO_TARGETS, LANGUAGES, VOICES

CLIENT_EVENTS: tuple[str, ...] = (
    "session.update",
    "input_audio_buffer.append",
    "input_image_buffer.append",
    "session.finish",
)
_MODALITIES = (["text"], ["audio", "text"])


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """A session's configuration; the defaults are what session.created announces."""

    modalities: tuple[str, ...] = ("text", "audio")
    voice: str = "Cherry"
    input_audio_format: str = INPUT_AUDIO_FORMAT
    output_audio_format: str = "pcm24"
    target_lang: str = "en"
    # Set when the client asked for a source transcript (input_audio_transcription.model).
    transcription_model: str | None = None
    source_lang: str = "en"

    @property
    def wants_audio(self) -> bool:
        return "audio" in self.modalities

    def as_session(self, *, session_id: str, model: str) -> dict[str, Any]:
        session: dict[str, Any] = {
            "id": session_id,
            "object": "realtime.session",
            "model": model,
            "modalities": list(self.modalities),
            "voice": self.voice,
            "input_audio_format": self.input_audio_format,
            "output_audio_format": self.output_audio_format,
            "translation": {"language": self.target_lang},
        }
        if self.transcription_model:
            session["input_audio_transcription"] = {
                "model": self.transcription_model,
                "language": self.source_lang,
            }
        return session


def parse_frame(raw: str | bytes) -> tuple[str, dict[str, Any]]:
    """The event's type and body, or the refusal of a frame that is not a client event."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RealtimeError("invalid_json", "The event is not valid JSON.") from None
    if not isinstance(body, dict):
        raise RealtimeError("invalid_json", "The event must be a JSON object.")
    kind = body.get("type")
    if kind not in CLIENT_EVENTS:
        raise invalid_value(
            f"Invalid event type {kind!r}. Supported values are: {', '.join(CLIENT_EVENTS)}.",
            "type",
        )
    return str(kind), body


def decode_base64(value: Any, *, param: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise invalid_value(f"'{param}' must be a non-empty base64 string.", param)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_value(f"'{param}' is not valid base64.", param) from None


def apply_update(current: SessionSettings, session: Any) -> SessionSettings:
    """The settings after a session.update: the fields it names replace the current ones,
    and the result must hold together (a voice that speaks the target, and so on)."""
    if not isinstance(session, dict):
        raise invalid_value("'session' must be an object.", "session")
    changes: dict[str, Any] = {}
    if "modalities" in session:
        modalities = session["modalities"]
        if not isinstance(modalities, list) or sorted(map(str, modalities)) not in _MODALITIES:
            raise invalid_value(
                f"Invalid modalities: {modalities!r}. Supported combinations are: "
                "['text'] and ['audio', 'text'].",
                "session.modalities",
            )
        changes["modalities"] = ("text", "audio") if "audio" in modalities else ("text",)
    if "voice" in session:
        voice = session["voice"]
        if not isinstance(voice, str) or voice not in VOICES:
            raise invalid_value(
                f"Invalid voice {voice!r}. Supported voices are: {', '.join(VOICES)}.",
                "session.voice",
            )
        changes["voice"] = voice
    input_format = session.get("input_audio_format", INPUT_AUDIO_FORMAT)
    if input_format != INPUT_AUDIO_FORMAT:
        raise invalid_value(
            f"Invalid input_audio_format {input_format!r}. "
            f"Supported value is: {INPUT_AUDIO_FORMAT} (16 kHz, 16-bit, mono).",
            "session.input_audio_format",
        )
    if "output_audio_format" in session:
        output_format = session["output_audio_format"]
        if output_format not in OUTPUT_AUDIO_FORMATS:
            raise invalid_value(
                f"Invalid output_audio_format {output_format!r}. "
                f"Supported values are: {', '.join(OUTPUT_AUDIO_FORMATS)}.",
                "session.output_audio_format",
            )
        changes["output_audio_format"] = output_format
    if "translation" in session:
        changes["target_lang"] = _language(
            session["translation"], "session.translation", default=current.target_lang
        )
    if "input_audio_transcription" in session:
        transcription = session["input_audio_transcription"]
        if transcription is None:
            changes["transcription_model"] = None
        else:
            changes["source_lang"] = _language(
                transcription, "session.input_audio_transcription", default=current.source_lang
            )
            model = transcription.get("model")
            if model is not None and model != TRANSCRIPTION_MODEL:
                raise invalid_value(
                    f"Invalid transcription model {model!r}. Supported value is: "
                    f"{TRANSCRIPTION_MODEL}.",
                    "session.input_audio_transcription.model",
                )
            changes["transcription_model"] = model
    updated = replace(current, **changes)
    _check_voice(updated)
    return updated


def _language(block: Any, param: str, *, default: str) -> str:
    if not isinstance(block, dict):
        raise invalid_value(f"'{param}' must be an object.", param)
    language = block.get("language", default)
    if not isinstance(language, str) or language not in LANGUAGES:
        raise invalid_value(
            f"Invalid language {language!r}. Supported values are: {', '.join(LANGUAGES)}.",
            f"{param}.language",
        )
    return language


def _check_voice(settings: SessionSettings) -> None:
    if not settings.wants_audio:
        return
    target = settings.target_lang
    if target not in AUDIO_TARGETS:
        raise invalid_value(
            f"Audio output is not supported for language {target!r}; it is available for "
            f"{', '.join(sorted(AUDIO_TARGETS))}. Use modalities ['text'].",
            "session.modalities",
        )
    if target not in VOICES[settings.voice]:
        speakers = [name for name, langs in VOICES.items() if target in langs]
        raise invalid_value(
            f"Voice {settings.voice} does not support language {target!r}; voices that do: "
            f"{', '.join(speakers)}.",
            "session.voice",
        )
