"""What goes over the socket: the names, limits and error events of the realtime protocol.

Every server event carries a fresh `event_id` and its `type`; errors are events too
(`{"type": "error", "error": {type, code, message, param}}`), never HTTP answers, once the
socket is open.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

PATH = "/api-ws/v1/realtime"

# The model names the provider serves for this engine (seed 001, "サポートされているモデル").
MODELS: tuple[str, ...] = (
    "qwen3-livetranslate-flash-realtime",
    "qwen3-livetranslate-flash-realtime-2025-09-22",
)
TRANSCRIPTION_MODEL = "qwen3-asr-flash-realtime"

INPUT_AUDIO_FORMAT = "pcm16"
INPUT_RATE_HZ = 16_000
# The reference names pcm24, the provider's own sample client sends pcm16; both are accepted
# and both mean the same audio: 24 kHz, 16-bit, mono.
OUTPUT_AUDIO_FORMATS: tuple[str, ...] = ("pcm24", "pcm16")

# Images (input_image_buffer.append).
MAX_IMAGE_BYTES = 500 * 1024
MAX_IMAGE_LONG_SIDE_PX = 1920
MAX_IMAGE_SHORT_SIDE_PX = 1080
MAX_IMAGES_PER_S = 2

INVALID_REQUEST = "invalid_request_error"
INVALID_VALUE = "invalid_value"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:22]}"


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """A server event: a fresh event_id, its type, then its fields."""
    return {"event_id": new_id("event"), "type": kind, **fields}


def encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


@dataclass(eq=False)
class RealtimeError(Exception):
    """A problem the server reports as an `error` event; the session stays open unless the
    caller decides otherwise."""

    code: str
    message: str
    param: str | None = None
    type: str = INVALID_REQUEST

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def as_event(self) -> dict[str, Any]:
        return event(
            "error",
            error={
                "type": self.type,
                "code": self.code,
                "message": self.message,
                "param": self.param,
            },
        )


def invalid_value(message: str, param: str | None) -> RealtimeError:
    return RealtimeError(INVALID_VALUE, message, param)
