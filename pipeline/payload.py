"""What a chunk's request carries, and how big it is, before it is encoded.

The planner needs payload sizes to respect the data-URI limit, and the extractor needs
the same encoding parameters to produce them; both read them from here.

Video payloads are shaped to what the provider samples anyway (seed 000's formula):
frames at no more than 2 per second, at most 128 of them, each already resized to the
provider's own target size. The provider then bills exactly what it would bill for the
full-resolution source, while the payload shrinks to a few megabytes at most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ltb import tokens
from ltb.errors import MediaError

DATA_URI_LIMIT_CHARS = 10_485_760

# Chunk audio: 16 kHz mono MP3. MP3 is among the formats the provider documents; 32 kbps
# keeps speech intelligible and fits about 32 minutes into one data URI.
AUDIO_RATE_HZ = 16_000
AUDIO_BITRATE_BPS = 32_000
AUDIO_MIME = "audio/mpeg"
AUDIO_FORMAT = "mp3"
# Payload soundtrack inside a video chunk.
VIDEO_AUDIO_BITRATE_BPS = 32_000
VIDEO_MIME = "video/mp4"
# x264 at a modest quality spends about this many bits per pixel per frame on real footage;
# the estimate uses it, and the extractor re-encodes smaller if a payload comes out larger.
VIDEO_BITS_PER_PIXEL = 0.25
# MP4/MP3 framing overhead on top of the streams.
CONTAINER_OVERHEAD = 1.03

Delivery = Literal["inline", "url"]


@dataclass(frozen=True, slots=True)
class VideoPayload:
    """The geometry a chunk's video is encoded at."""

    width: int
    height: int
    fps: float
    frames: int

    @property
    def tokens(self) -> int:
        return tokens.video_tokens(
            height=self.height, width=self.width, total_frames=self.frames, fps=self.fps
        )


def data_uri_chars(raw_bytes: int, mime: str) -> int:
    """Length of `data:<mime>;base64,<...>` for a payload of `raw_bytes`."""
    return len(f"data:{mime};base64,") + 4 * math.ceil(raw_bytes / 3)


def audio_payload_chars(duration_s: float) -> int:
    raw = duration_s * AUDIO_BITRATE_BPS / 8 * CONTAINER_OVERHEAD
    return data_uri_chars(math.ceil(raw), AUDIO_MIME)


def _candidate_rates(source_fps: float, duration_s: float) -> list[float]:
    """Frame rates to try, smallest payload first.

    The provider samples 2 frames per second and never more than 128, so frames beyond
    that are never looked at. Long chunks get rates that yield a few more than 128 frames,
    so the provider's whole-second rounding never drops below its cap.
    """
    if duration_s * tokens.SAMPLE_FPS <= tokens.MAX_FRAMES:
        rates = [2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
    else:
        rates = [(tokens.MAX_FRAMES + extra) / duration_s for extra in (4, 2, 6, 8, 12, 16, 24, 32)]
    return [min(rate, source_fps) for rate in rates]


def _shaped(source_width: int, source_height: int, fps: float, duration_s: float) -> VideoPayload:
    frames = max(1, round(duration_s * fps))
    sampled = tokens.sampled_frames(frames, fps)
    height, width = tokens.resized_frame(source_height, source_width, sampled)
    return VideoPayload(width=width, height=height, fps=fps, frames=frames)


def video_payload(
    *, source_width: int, source_height: int, source_fps: float, duration_s: float
) -> VideoPayload:
    """The geometry to encode a chunk of `duration_s` at.

    The smallest candidate that bills no more video tokens than sending the chunk at the
    source's own size and rate. Fewer frames can mean a larger per-frame pixel allowance,
    so a candidate is checked, not assumed, to be no dearer.
    Raises MediaError when the chunk is too short for the provider to sample.
    """
    as_source = _shaped(source_width, source_height, source_fps, duration_s)
    for rate in _candidate_rates(source_fps, duration_s):
        try:
            candidate = _shaped(source_width, source_height, rate, duration_s)
        except MediaError:
            continue
        if candidate.tokens <= as_source.tokens:
            return candidate
    return as_source


def video_payload_chars(payload: VideoPayload, duration_s: float) -> int:
    video_bits = payload.width * payload.height * payload.frames * VIDEO_BITS_PER_PIXEL
    audio_bits = duration_s * VIDEO_AUDIO_BITRATE_BPS
    raw = (video_bits + audio_bits) / 8 * CONTAINER_OVERHEAD
    return data_uri_chars(math.ceil(raw), VIDEO_MIME)
