"""input_image_buffer.append: the provider's limits on still images, checked in the order a
client meets them (order of events, rate, format, size before encoding, resolution), and
what an accepted image costs."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from emulator.realtime.protocol import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_LONG_SIDE_PX,
    MAX_IMAGE_SHORT_SIDE_PX,
    MAX_IMAGES_PER_S,
    invalid_value,
)
from ltb.tokens import image_tokens

PARAM = "image"
_JPEG_MAGIC = b"\xff\xd8\xff"
# The rate is measured on the audio timeline, so a client that streams a file faster than
# real time is judged by the media it sends, not by its speed. One audio block of slack
# (the provider's sample sends 100 ms blocks) keeps a client that sends exactly 2 per second
# from being refused for where its blocks happen to fall.
RATE_WINDOW_S = 1.0
RATE_SLACK_S = 0.1


@dataclass(frozen=True, slots=True)
class AcceptedImage:
    width: int
    height: int
    tokens: int
    # Where on the session's audio timeline the image arrived.
    at_s: float


class ImageGate:
    """Admits the images of one session."""

    def __init__(self) -> None:
        self._recent: deque[float] = deque()

    def admit(self, raw: bytes, *, audio_s: float, audio_seen: bool) -> AcceptedImage:
        if not audio_seen:
            raise invalid_value(
                "An image can only be sent after at least one input_audio_buffer.append.", PARAM
            )
        while self._recent and self._recent[0] <= audio_s - (RATE_WINDOW_S - RATE_SLACK_S):
            self._recent.popleft()
        if len(self._recent) >= MAX_IMAGES_PER_S:
            raise invalid_value(
                f"Too many images: at most {MAX_IMAGES_PER_S} images per second of audio.",
                PARAM,
            )
        width, height = _jpeg_size(raw)
        self._recent.append(audio_s)
        return AcceptedImage(
            width=width,
            height=height,
            tokens=image_tokens(width=width, height=height),
            at_s=audio_s,
        )


def _jpeg_size(raw: bytes) -> tuple[int, int]:
    if not raw.startswith(_JPEG_MAGIC):
        raise invalid_value("The image must be a JPEG (JPG or JPEG).", PARAM)
    if len(raw) > MAX_IMAGE_BYTES:
        raise invalid_value(
            f"The image is {len(raw):,} bytes; at most {MAX_IMAGE_BYTES:,} bytes (500 KB) "
            "before base64 encoding.",
            PARAM,
        )
    decoded = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise invalid_value("The image cannot be decoded as a JPEG.", PARAM)
    height, width = int(decoded.shape[0]), int(decoded.shape[1])
    if max(width, height) > MAX_IMAGE_LONG_SIDE_PX or min(width, height) > MAX_IMAGE_SHORT_SIDE_PX:
        raise invalid_value(
            f"The image is {width}x{height}; the largest accepted resolution is 1080p "
            f"({MAX_IMAGE_LONG_SIDE_PX}x{MAX_IMAGE_SHORT_SIDE_PX}, either orientation).",
            PARAM,
        )
    return width, height
