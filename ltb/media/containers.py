"""Opening media that nobody vouches for.

ffmpeg can follow references inside a file (HLS playlists, concat lists, network URLs).
Every container is opened with the file protocol only and a short list of demuxers, so
a crafted file cannot make the service open anything else (docs/architecture.md "Security rules").
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import av
import av.container

from ltb.errors import MediaError

if TYPE_CHECKING:
    import cv2

# Demuxers for the media a translation library holds; nothing that reads other files.
ALLOWED_DEMUXERS = ",".join(
    [
        "mov,mp4,m4a,3gp,3g2,mj2",
        "matroska,webm",
        "wav",
        "mp3",
        "ogg",
        "flac",
        "aac",
        "avi",
        "mpegts",
        "asf",
        "flv",
        "w64",
        "aiff",
    ]
)

SAFE_CONTAINER_OPTIONS = {
    "protocol_whitelist": "file",
    "format_whitelist": ALLOWED_DEMUXERS,
}

# OpenCV's own ffmpeg reads this before every VideoCapture; "key;value" pairs, "|"-separated.
# It gets the same protocol and demuxer lists as PyAV: without the demuxer list it follows
# an HLS or concat playlist to another local file and measures that file instead.
OPENCV_CAPTURE_OPTIONS = "|".join(f"{key};{value}" for key, value in SAFE_CONTAINER_OPTIONS.items())
_OPENCV_OPTIONS_VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")


def open_media(path: Path, *, name: str | None = None) -> av.container.InputContainer:
    """Opens `path` for reading with only the file protocol and the allowed demuxers.

    `name` is how messages call the source: as the user gave it (a path or an s3:// URI),
    which the file on this machine may not resemble (a cached copy named by its hash).
    """
    label = name or path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"cannot read {label}: {exc.strerror}", code="source_not_found") from exc
    if size == 0:
        raise MediaError(f"{label} is empty (0 bytes)", code="empty_file")
    try:
        return av.open(str(path), mode="r", container_options=SAFE_CONTAINER_OPTIONS)
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"{label} is not a readable audio or video file ({exc.strerror or 'unknown format'}); "
            "supported containers: mp4/mov, mkv/webm, wav, mp3, ogg, flac, aac, avi, ts",
            code="unsupported_media",
        ) from exc


@contextmanager
def open_capture(path: Path, *, name: str | None = None) -> Iterator[cv2.VideoCapture]:
    """Opens `path` with OpenCV's ffmpeg, held to the same protocols and demuxers as
    `open_media`; refuses a file it cannot open."""
    # Set on every open, not once: an operator's own value must not widen the lists.
    if os.environ.get(_OPENCV_OPTIONS_VARIABLE) != OPENCV_CAPTURE_OPTIONS:
        os.environ[_OPENCV_OPTIONS_VARIABLE] = OPENCV_CAPTURE_OPTIONS
    # Imported here: OpenCV is ~20 MB of resident memory that only video sources need.
    import cv2

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise MediaError(
                f"the video stream of {name or path.name} cannot be decoded",
                code="unsupported_media",
            )
        yield capture
    finally:
        capture.release()


class DecodeDeadline:
    """Stops a decode that runs longer than the cap for untrusted media."""

    def __init__(self, limit_s: float, *, what: str) -> None:
        self._ends_at = time.monotonic() + limit_s
        self._limit_s = limit_s
        self._what = what

    def check(self) -> None:
        if time.monotonic() > self._ends_at:
            raise MediaError(
                f"decoding {self._what} took longer than {self._limit_s:.0f} s; "
                "the file may be malformed, or raise LTB_DECODE_TIMEOUT_S",
                code="decode_timeout",
            )
