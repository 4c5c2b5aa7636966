"""How the provider counts tokens. The emulator bills with these and the planner estimates
with these, so the two can never disagree.

Sources: seed 000 ("課金") and its reference script for video tokens. The script is
re-expressed here, quirks included, because the quirks are what the provider bills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ltb.errors import MediaError

# Model limits (seed 000, "モデルの詳細").
CONTEXT_TOKENS = 53_248
MAX_INPUT_TOKENS = 49_152
MAX_OUTPUT_TOKENS = 4_096

AUDIO_TOKENS_PER_S = 12.5

# Video sampling constants from the provider's reference script.
SAMPLE_FPS = 2
FRAME_FACTOR = 2
MIN_FRAMES = 4
MAX_FRAMES = 128
PATCH_PX = 32
MAX_ASPECT_RATIO = 200
MIN_PIXELS = 128 * PATCH_PX * PATCH_PX
MAX_PIXELS_PER_FRAME = 768 * PATCH_PX * PATCH_PX
TOTAL_PIXELS = 16_384 * PATCH_PX * PATCH_PX
VIDEO_EXTRA_TOKENS = 2


def audio_tokens(seconds: float) -> int:
    """Tokens for `seconds` of audio, in or out: 12.5 per second, at least one second."""
    # Rounded to microseconds first so that float noise (30.000000001 s) never adds a token.
    return math.ceil(round(AUDIO_TOKENS_PER_S * max(1.0, seconds), 6))


def seconds_for_audio_tokens(tokens: int) -> float:
    """The longest audio that costs at most `tokens`."""
    return tokens / AUDIO_TOKENS_PER_S


@dataclass(frozen=True, slots=True)
class VideoGeometry:
    """What the provider makes of a video before counting: sampled frames and resized size."""

    frames: int
    height: int
    width: int

    @property
    def tokens(self) -> int:
        patches = (self.height // PATCH_PX) * (self.width // PATCH_PX)
        return math.ceil(self.frames / FRAME_FACTOR) * patches + VIDEO_EXTRA_TOKENS


def _floor_to(value: float, factor: int) -> int:
    return math.floor(value / factor) * factor


def _ceil_to(value: float, factor: int) -> int:
    return math.ceil(value / factor) * factor


def _round_to(value: float, factor: int) -> int:
    # Python's round() rounds halves to even (720/32 = 22.5 -> 22). The reference script
    # uses it, so 720 px resizes to 704 px, and so must we.
    return round(value / factor) * factor


def sampled_frames(total_frames: int, fps: float) -> int:
    """How many frames the provider samples from a clip of `total_frames` at `fps`."""
    if total_frames <= 0 or not fps or fps <= 0 or not math.isfinite(fps):
        raise MediaError(
            f"the video reports {total_frames} frames at {fps} fps; its frames cannot be counted",
            code="unsupported_media",
        )
    upper = _floor_to(min(MAX_FRAMES, total_frames), FRAME_FACTOR)
    duration_s = total_frames / fps
    # The provider counts whole seconds unless the leftover is longer than one sampling
    # interval; only then does it keep the fractional second.
    if duration_s - int(duration_s) > 1 / SAMPLE_FPS:
        usable = math.ceil(duration_s * fps)
    else:
        usable = math.ceil(int(duration_s) * fps)
    wanted = usable / fps * SAMPLE_FPS
    frames = int(min(max(wanted, MIN_FRAMES), upper, usable))
    if not FRAME_FACTOR <= frames <= usable:
        raise MediaError(
            f"the video is too short to sample: {total_frames} frames at {fps:g} fps "
            f"give {frames} frames, and the provider needs at least {FRAME_FACTOR}",
            code="unsupported_media",
        )
    return frames


def resized_frame(height: int, width: int, frames: int) -> tuple[int, int]:
    """The (height, width) the provider resizes each sampled frame to."""
    if height <= 0 or width <= 0:
        raise MediaError(f"the video reports a {width}x{height} frame", code="unsupported_media")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise MediaError(
            f"the frame's aspect ratio is {ratio:.1f}:1; the provider accepts at most "
            f"{MAX_ASPECT_RATIO}:1",
            code="aspect_ratio_out_of_range",
        )
    max_pixels = max(
        min(MAX_PIXELS_PER_FRAME, TOTAL_PIXELS / frames * FRAME_FACTOR), int(MIN_PIXELS * 1.05)
    )
    h_bar = max(PATCH_PX, _round_to(height, PATCH_PX))
    w_bar = max(PATCH_PX, _round_to(width, PATCH_PX))
    if h_bar * w_bar > max_pixels:
        shrink = math.sqrt(height * width / max_pixels)
        h_bar = _floor_to(height / shrink, PATCH_PX)
        w_bar = _floor_to(width / shrink, PATCH_PX)
    elif h_bar * w_bar < MIN_PIXELS:
        grow = math.sqrt(MIN_PIXELS / (height * width))
        h_bar = _ceil_to(height * grow, PATCH_PX)
        w_bar = _ceil_to(width * grow, PATCH_PX)
    return h_bar, w_bar


def video_geometry(*, height: int, width: int, total_frames: int, fps: float) -> VideoGeometry:
    """Sampled frames and resized size for a clip, as the provider computes them."""
    frames = sampled_frames(total_frames, fps)
    h_bar, w_bar = resized_frame(height, width, frames)
    return VideoGeometry(frames=frames, height=h_bar, width=w_bar)


def video_tokens(*, height: int, width: int, total_frames: int, fps: float) -> int:
    """Video tokens billed for a clip: ceil(frames / 2) x (h / 32) x (w / 32) + 2."""
    return video_geometry(height=height, width=width, total_frames=total_frames, fps=fps).tokens


# Still images sent to the realtime engine (seed 001, "課金"): 0.5 token per 28 x 28 pixels.
IMAGE_TILE_PX = 28
IMAGE_TOKENS_PER_TILE = 0.5


def image_tokens(*, width: int, height: int) -> int:
    """Tokens for one image: half a token per 28 x 28 pixels of its area, rounded up once
    per image (a 1280 x 720 frame is 1,175.5 tiles, 588 tokens). The provider does not say
    how it rounds partial tiles; rounding the image's total up never bills less than it."""
    if width <= 0 or height <= 0:
        raise MediaError(f"the image reports a {width}x{height} size", code="unsupported_media")
    tiles = width * height / (IMAGE_TILE_PX * IMAGE_TILE_PX)
    return math.ceil(round(tiles * IMAGE_TOKENS_PER_TILE, 6))


def realtime_input_tokens(
    audio_s: float, *, frames: int = 0, frame_width: int = 0, frame_height: int = 0
) -> int:
    """Input tokens of a realtime session: its audio at the file engine's rate plus every
    still frame at `image_tokens` (docs/provider.md "Realtime engine", "Billing")."""
    images = frames * image_tokens(width=frame_width, height=frame_height) if frames else 0
    return audio_tokens(audio_s) + images


def realtime_frames(duration_s: float, fps: float) -> int:
    """Frames a session of `duration_s` sends at `fps`: one at the start, then one every
    1/fps seconds."""
    if duration_s <= 0 or fps <= 0:
        return 0
    return math.floor(round(duration_s * fps, 6)) + 1
