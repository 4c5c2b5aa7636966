"""probe + speech map: everything the journey needs to know of a source before planning.

Both depend only on the source's bytes, so the service does them once per content hash
and reuses the result for every target language (docs/architecture.md "The journey of one job").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltb.media.probe import AudioProps, MediaInfo, MediaLimits, VideoProps, probe
from ltb.media.speech_map import QuietPoint, SpeechMap, map_speech
from ltb.settings import Settings
from ltb.timeline import Span


@dataclass(frozen=True, slots=True)
class SourceAnalysis:
    info: MediaInfo
    speech: SpeechMap

    @property
    def duration_s(self) -> float:
        """The timeline's length: the longer of the container and the decoded soundtrack."""
        return max(self.info.duration_s, self.speech.duration_s)

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.speech.warnings

    def as_dict(self) -> dict[str, Any]:
        """A JSON form, for the per-source analysis cache."""
        return {
            "info": self.info.as_dict(),
            "speech": {
                "regions": [[r.start_s, r.end_s] for r in self.speech.regions],
                "duration_s": self.speech.duration_s,
                "quiet_points": [[q.time_s, q.level_db] for q in self.speech.quiet_points],
                "warnings": list(self.speech.warnings),
            },
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SourceAnalysis:
        info = dict(raw["info"])
        video = info.pop("video")
        audio = info.pop("audio")
        speech = raw["speech"]
        return cls(
            info=MediaInfo(
                **info,
                audio=AudioProps(**audio),
                video=VideoProps(**video) if video else None,
            ),
            speech=SpeechMap(
                regions=tuple(Span(a, b) for a, b in speech["regions"]),
                duration_s=speech["duration_s"],
                quiet_points=tuple(QuietPoint(t, level) for t, level in speech["quiet_points"]),
                warnings=tuple(speech["warnings"]),
            ),
        )


def media_limits(settings: Settings) -> MediaLimits:
    return MediaLimits(
        max_bytes=settings.max_source_bytes,
        max_duration_s=settings.max_duration_s,
        max_pixels=settings.max_video_pixels,
        decode_timeout_s=settings.decode_timeout_s,
    )


def analyse_source(path: Path, *, limits: MediaLimits, name: str | None = None) -> SourceAnalysis:
    """Probes `path` and maps its speech in one streaming decode of the soundtrack.

    `name` is the source as the user gave it (a path, an s3:// URI); every refusal names
    it, never the local copy, which the service keeps under its content hash.
    """
    info = probe(path, limits=limits, name=name)
    speech = map_speech(
        path, audio_start_s=info.audio.start_s, timeout_s=limits.decode_timeout_s, name=name
    )
    return SourceAnalysis(info=info, speech=speech)
