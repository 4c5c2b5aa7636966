"""What every output writer reads: the translated chunks, the job's facts, the source, and
the work the writers share (the cues, the dub, the dub mix), each made at most once.

Timing comes from the speech map, never from the provider: subtitles are spread over
each chunk's speech regions, and each chunk's dub starts at its first speech region.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltb.outputs import DEFAULT_DUCK_DB
from ltb.states import DubMix
from ltb.timeline import Span
from pipeline.deliver.mix import MixReport, mix_dub
from pipeline.dub import DubReport, DubRequest, place_dubs, render_dub, samples_from_pcm16
from pipeline.dub.chunk_audio import NO_AUDIO, DubAudio
from pipeline.dub.pcm import SAMPLE_RATE_HZ
from pipeline.subtitles import Cue, TimedText, build_cues

# Subtitle frame timing (2-frame gaps) is defined at 24 fps unless the source says otherwise.
DEFAULT_SUBTITLE_FPS = 24.0


@dataclass(frozen=True, slots=True)
class TranslatedChunk:
    """One chunk that came back: where it sits, where its speech is, what it says.

    Its dub is a reader, not bytes: assembly reads one chunk's audio at a time, so no
    caller needs to hold a whole long dub in memory (pipeline/dub/chunk_audio.py).
    """

    index: int
    span: Span
    speech: tuple[Span, ...]
    text: str
    audio: DubAudio = NO_AUDIO
    # What was said, in the source language (the realtime engine's transcript); empty
    # when the engine gives none.
    transcript: str = ""

    @property
    def dub_s(self) -> float:
        return self.audio.nbytes / 2 / SAMPLE_RATE_HZ


def in_timeline_order(chunks: Sequence[TranslatedChunk]) -> list[TranslatedChunk]:
    return sorted(chunks, key=lambda chunk: chunk.span.start_s)


@dataclass(frozen=True, slots=True)
class DubSettings:
    max_speed: float
    loudness_lufs: float
    true_peak_dbtp: float


@dataclass(frozen=True, slots=True)
class MixSettings:
    """How the dub meets the source's soundtrack (the request's dub_mix and duck_db)."""

    mode: DubMix = DubMix.REPLACE
    duck_db: float = DEFAULT_DUCK_DB


@dataclass(frozen=True, slots=True)
class SourceMedia:
    """The source, for the outputs that copy from it: the mix and the dubbed video.

    `path` is called only by a writer that needs the file, so a job that asks for text
    never downloads its source again at finalize.
    """

    path: Callable[[], Path]
    lang: str | None
    frame_size: tuple[int, int] | None


def cues_of(
    chunks: Sequence[TranslatedChunk],
    *,
    target_lang: str,
    timeline_end_s: float,
    fps: float = DEFAULT_SUBTITLE_FPS,
) -> list[Cue]:
    """The target-language cues every subtitle format and the video's subtitle track carry."""
    timed = [
        TimedText(text=c.text, speech_regions=c.speech, fallback=c.span)
        for c in in_timeline_order(chunks)
    ]
    return build_cues(timed, target_lang, timeline_end_s=timeline_end_s, fps=fps)


def source_cues_of(
    chunks: Sequence[TranslatedChunk],
    *,
    source_lang: str,
    timeline_end_s: float,
    fps: float = DEFAULT_SUBTITLE_FPS,
) -> list[Cue]:
    """Captions of what was said (the chunks' transcripts), under the source language's
    rules: the source subtitle files and the dubbed video's second subtitle track."""
    timed = [
        TimedText(text=c.transcript, speech_regions=c.speech, fallback=c.span)
        for c in in_timeline_order(chunks)
    ]
    return build_cues(timed, source_lang, timeline_end_s=timeline_end_s, fps=fps)


def write_dub(
    chunks: Sequence[TranslatedChunk],
    *,
    timeline_end_s: float,
    path: Path,
    max_speed: float,
    loudness_lufs: float,
    true_peak_dbtp: float,
) -> DubReport:
    """dub.wav: each chunk's dub from its first speech region, never overlapping the next."""
    voiced = [c for c in in_timeline_order(chunks) if c.audio.nbytes and c.speech]
    placements = place_dubs(
        [
            DubRequest(index=c.index, anchor_s=c.speech[0].start_s, duration_s=c.dub_s)
            for c in voiced
        ],
        timeline_end_s=timeline_end_s,
        max_speed=max_speed,
    )
    audio = {c.index: c.audio for c in voiced}
    # Read as the renderer reaches each placement: one chunk's PCM in memory at a time.
    segments = (
        (placement, samples_from_pcm16(pcm=audio[placement.index].read()))
        for placement in placements
    )
    return render_dub(
        segments,
        timeline_end_s=timeline_end_s,
        out_path=path,
        loudness_lufs=loudness_lufs,
        true_peak_dbtp=true_peak_dbtp,
    )


def silent_dub(*, timeline_end_s: float, path: Path) -> DubReport:
    """A dub for a file with no speech: silence, exactly as long as the source."""
    no_segments: list[tuple[Any, np.ndarray[Any, Any]]] = []
    return render_dub(no_segments, timeline_end_s=timeline_end_s, out_path=path)


@dataclass
class _Made:
    """What one writer made that another reuses."""

    cues: list[Cue] | None = None
    dub: tuple[Path, DubReport] | None = None
    mix: tuple[Path, MixReport] | None = None


@dataclass(frozen=True, slots=True)
class Assembly:
    """What every writer may read: the translated chunks and the job's facts.

    `work_dir` holds what is made for other outputs and is not one itself (the dub when
    only the mix is asked for, the mix before it becomes a video's track).
    """

    chunks: Sequence[TranslatedChunk]
    target_lang: str
    timeline_end_s: float
    no_speech: bool
    dub: DubSettings
    work_dir: Path
    mix: MixSettings = MixSettings()
    source: SourceMedia | None = None
    # Source-language cues, when the job has a transcript: a second subtitle track.
    source_cues: tuple[Cue, ...] | None = None
    # The job's edited cues, when a revision rewrites them; else they are built from the chunks.
    edited_cues: tuple[Cue, ...] | None = None
    _made: _Made = field(default_factory=_Made, compare=False, repr=False)

    def cues(self) -> list[Cue]:
        if self.edited_cues is not None:
            return list(self.edited_cues)
        if self._made.cues is None:
            self._made.cues = cues_of(
                self.chunks, target_lang=self.target_lang, timeline_end_s=self.timeline_end_s
            )
        return self._made.cues

    def write_dub(self, path: Path) -> DubReport:
        """Writes the dub alone to `path` (dub.wav), and keeps it for the mix."""
        if self.no_speech:
            report = silent_dub(timeline_end_s=self.timeline_end_s, path=path)
        else:
            report = write_dub(
                self.chunks,
                timeline_end_s=self.timeline_end_s,
                path=path,
                max_speed=self.dub.max_speed,
                loudness_lufs=self.dub.loudness_lufs,
                true_peak_dbtp=self.dub.true_peak_dbtp,
            )
        self._made.dub = (path, report)
        return report

    def dub_file(self) -> tuple[Path, DubReport]:
        if self._made.dub is None:
            self.write_dub(self.work_dir / "dub-for-mix.wav")
        assert self._made.dub is not None
        return self._made.dub

    def mix_file(self) -> tuple[Path, MixReport]:
        """The dub mix (FLAC, 48 kHz), made once for mix.wav and the videos alike."""
        if self._made.mix is None:
            dub_path, report = self.dub_file()
            voiceover = self.mix.mode == DubMix.VOICEOVER
            if voiceover and self.source is None:
                raise ValueError("a voiceover mix needs the source")
            path = self.work_dir / "dub-mix.flac"
            mixed = mix_dub(
                dub=dub_path,
                original=self.source.path() if voiceover and self.source else None,
                out_path=path,
                mode="voiceover" if voiceover else "replace",
                duration_s=self.timeline_end_s,
                speech=[Span(p.start_s, p.end_s) for p in report.placements],
                duck_db=self.mix.duck_db,
                target_lufs=self.dub.loudness_lufs,
                ceiling_dbtp=self.dub.true_peak_dbtp,
            )
            self._made.mix = (path, mixed)
        return self._made.mix


@dataclass(frozen=True, slots=True)
class Written:
    """What a writer reports for the manifest besides its file."""

    subtitles: dict[str, Any] | None = None
    dub: DubReport | None = None
    mix: MixReport | None = None
    warnings: tuple[str, ...] = ()


def dub_warnings(report: DubReport) -> tuple[str, ...]:
    """What the manifest says of a dub (every output that carries it says the same)."""
    if report.overflow_s > 0:
        return (f"dub_overflow: the dub runs {report.overflow_s:.2f} s past the end of the source",)
    return ()


# Builds one output kind's file at the given path.
Writer = Callable[[Assembly, Path], Written]
