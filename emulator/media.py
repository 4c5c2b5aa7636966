"""What the emulator hears in the received media, decoded for real with the service's own
media layer, so the two measure the same file the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emulator.requests import MediaKind
from ltb.errors import MediaError
from ltb.media.audio import SoundtrackDecode
from ltb.media.probe import VideoProps, probe
from ltb.media.speech_map import map_speech
from ltb.timeline import Span


@dataclass(frozen=True, slots=True)
class MeasuredInput:
    """The properties the provider bills on: soundtrack length and, for video, the frames."""

    kind: MediaKind
    audio_s: float
    video: VideoProps | None

    @property
    def duration_s(self) -> float:
        return max(self.audio_s, self.video.duration_s if self.video else 0.0)


def measure(path: Path, kind: MediaKind) -> MeasuredInput:
    """Probes the file and decodes its soundtrack to the sample; raises MediaError."""
    info = probe(path)
    if kind == "video" and info.video is None:
        raise MediaError("the video_url media has no video stream", code="unsupported_media")
    decode = SoundtrackDecode(path)
    for _ in decode:
        pass
    return MeasuredInput(
        kind=kind, audio_s=decode.duration_s, video=info.video if kind == "video" else None
    )


def speech_regions(path: Path) -> tuple[Span, ...]:
    """Where the speech is: one pseudo-translated sentence is written for each region."""
    return map_speech(path).regions
