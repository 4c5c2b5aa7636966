"""Still frames for the realtime engine's visual context: sampled at a steady rate,
downscaled (images cost tokens by area) and JPEG-encoded under the provider's 500 KB cap."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np

from ltb.media.containers import open_media
from ltb.timeline import Span
from pipeline.realtime.client import Frame
from pipeline.realtime.segments import FrameSize

MAX_JPEG_BYTES = 500_000
MAX_FPS = 2.0


def frame_size(width: int, height: int, *, max_height_px: int) -> FrameSize:
    """The size frames are sent at: no taller than `max_height_px`, aspect kept, even sides."""
    if height <= max_height_px:
        return FrameSize(width=width, height=height)
    scale = max_height_px / height
    return FrameSize(width=max(2, round(width * scale / 2) * 2), height=max_height_px)


def sample_frames(
    path: Path,
    spans: Sequence[Span],
    *,
    fps: float,
    size: FrameSize,
    name: str | None = None,
) -> list[list[Frame]]:
    """For each span, one frame at its start and then every 1/fps seconds, with `at_s`
    relative to the span's start. One decode pass over the video for all spans."""
    fps = min(fps, MAX_FPS)
    wanted: list[list[float]] = []
    for span in spans:
        count = int(span.duration_s * fps + 1e-6) + 1
        wanted.append([span.start_s + i / fps for i in range(count)])
    found: list[list[Frame]] = [[] for _ in spans]
    cursor = [0] * len(spans)
    with open_media(path, name=name or path.name) as container:
        if not container.streams.video:
            return found
        stream = container.streams.video[0]
        for picture in container.decode(stream):
            if picture.time is None:
                continue
            for index, span in enumerate(spans):
                times = wanted[index]
                while cursor[index] < len(times) and times[cursor[index]] <= picture.time:
                    at_s = times[cursor[index]] - span.start_s
                    found[index].append(_encode(picture, at_s, size))
                    cursor[index] += 1
            if all(c >= len(t) for c, t in zip(cursor, wanted, strict=True)):
                break
    return found


def _encode(picture: av.VideoFrame, at_s: float, size: FrameSize) -> Frame:
    rgb = picture.to_ndarray(format="bgr24")
    resized = cv2.resize(rgb, (size.width, size.height), interpolation=cv2.INTER_AREA)
    for quality in (80, 60, 40, 25):
        ok, encoded = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and encoded.size <= MAX_JPEG_BYTES:
            return Frame(
                at_s=at_s, jpeg=np.asarray(encoded).tobytes(), width=size.width, height=size.height
            )
    raise ValueError("a frame could not be encoded under 500 KB")
