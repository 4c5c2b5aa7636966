"""probe: what the source is (container, streams, duration, video geometry).

Video width, height, fps and frame count come from OpenCV because the provider's token
formula is defined on the values OpenCV reports (seed 000's reference script).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import av.stream

from ltb.errors import MediaError
from ltb.media.containers import open_capture, open_media
from ltb.tokens import MAX_ASPECT_RATIO


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Caps on untrusted media (docs/architecture.md "Security rules")."""

    max_bytes: int = 8 * 1024**3
    max_duration_s: float = 6 * 3600.0
    max_pixels: int = 8192 * 8192
    decode_timeout_s: float = 1800.0


@dataclass(frozen=True, slots=True)
class VideoProps:
    width: int
    height: int
    fps: float
    frames: int
    codec: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0


@dataclass(frozen=True, slots=True)
class AudioProps:
    codec: str
    sample_rate_hz: int
    channels: int
    # Where the audio starts on the container's clock; speech times are shifted by it.
    start_s: float


@dataclass(frozen=True, slots=True)
class MediaInfo:
    name: str
    size_bytes: int
    container: str
    duration_s: float
    audio: AudioProps
    video: VideoProps | None

    @property
    def has_video(self) -> bool:
        return self.video is not None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe(path: Path, *, limits: MediaLimits | None = None, name: str | None = None) -> MediaInfo:
    """Reads container, streams and duration; refuses media the service cannot use.
    Refusals call the source `name` (see `open_media`)."""
    caps = limits or MediaLimits()
    label = name or path.name
    size = path.stat().st_size if path.exists() else 0
    if size > caps.max_bytes:
        raise MediaError(
            f"{label} is {size / 1e9:.2f} GB; the limit is {caps.max_bytes / 1e9:.2f} GB "
            "(LTB_MAX_SOURCE_BYTES)",
            code="too_large",
        )
    with open_media(path, name=label) as container:
        audio_stream = next((s for s in container.streams.audio), None)
        video_stream = next((s for s in container.streams.video if not _is_cover_art(s)), None)
        if audio_stream is None:
            what = "a video with no soundtrack" if video_stream else "a file with no audio"
            raise MediaError(
                f"{label} is {what}; there is no speech to translate",
                code="no_audio_stream",
            )
        duration_s = _container_duration_s(container, audio_stream)
        audio = AudioProps(
            codec=audio_stream.codec_context.name,
            sample_rate_hz=int(audio_stream.codec_context.sample_rate or 0),
            channels=int(audio_stream.codec_context.channels or 0),
            start_s=_stream_start_s(audio_stream) - _container_start_s(container),
        )
        container_name = container.format.name
        video_codec = video_stream.codec_context.name if video_stream else None
    if duration_s > caps.max_duration_s:
        raise MediaError(
            f"{label} lasts {duration_s / 3600:.2f} h; the limit is "
            f"{caps.max_duration_s / 3600:.2f} h (LTB_MAX_DURATION_S)",
            code="too_long",
        )
    video = _read_video_props(path, video_codec, caps, label) if video_codec else None
    return MediaInfo(
        name=path.name,
        size_bytes=size,
        container=container_name,
        duration_s=duration_s,
        audio=audio,
        video=video,
    )


def _is_cover_art(stream: av.stream.Stream) -> bool:
    # An mp3 or m4a with an embedded picture shows it as a one-frame video stream.
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _container_start_s(container: av.container.InputContainer) -> float:
    return (container.start_time or 0) / av.time_base


def _stream_start_s(stream: av.stream.Stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _container_duration_s(
    container: av.container.InputContainer, audio_stream: av.stream.Stream
) -> float:
    if container.duration:
        return container.duration / av.time_base
    if audio_stream.duration and audio_stream.time_base:
        return float(audio_stream.duration * audio_stream.time_base)
    return 0.0


def _read_video_props(path: Path, codec: str, caps: MediaLimits, label: str) -> VideoProps:
    import cv2  # only video needs OpenCV (see open_capture)

    with open_capture(path, name=label) as capture:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if width <= 0 or height <= 0 or fps <= 0 or frames <= 0:
        raise MediaError(
            f"the video stream of {label} reports {width}x{height} at {fps:g} fps "
            f"with {frames} frames; it cannot be measured",
            code="unsupported_media",
        )
    if width * height > caps.max_pixels:
        raise MediaError(
            f"{label} is {width}x{height}; the limit is {caps.max_pixels:,} pixels per frame "
            "(LTB_MAX_VIDEO_PIXELS)",
            code="too_large",
        )
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise MediaError(
            f"{label} is {width}x{height}, an aspect ratio of {ratio:.0f}:1; the provider "
            f"accepts at most {MAX_ASPECT_RATIO}:1",
            code="aspect_ratio_out_of_range",
        )
    return VideoProps(width=width, height=height, fps=fps, frames=frames, codec=codec)
