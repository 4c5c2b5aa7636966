"""assemble: the outputs, built from the chunks' translations and the speech map.

Timing comes from the speech map, never from the provider: subtitles are spread over
each chunk's speech regions, and each chunk's dub starts at its first speech region.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltb.outputs import OUTPUTS
from ltb.states import OutputKind
from ltb.timeline import Span
from pipeline.dub import DubReport, DubRequest, place_dubs, render_dub, samples_from_pcm16
from pipeline.dub.pcm import SAMPLE_RATE_HZ
from pipeline.source_captions import bilingual_cues, write_bilingual_srt, write_transcript
from pipeline.subtitles import Cue, TimedText, build_cues, conformance, write_srt, write_vtt

# Subtitle frame timing (2-frame gaps) is defined at 24 fps unless the source says otherwise.
DEFAULT_SUBTITLE_FPS = 24.0


@dataclass(frozen=True, slots=True)
class TranslatedChunk:
    """One chunk that came back: where it sits, where its speech is, what it says."""

    index: int
    span: Span
    speech: tuple[Span, ...]
    text: str
    pcm: bytes
    # What was said, in the source language (the realtime engine's transcript); empty
    # when the engine gives none.
    transcript: str = ""

    @property
    def dub_s(self) -> float:
        return len(self.pcm) / 2 / SAMPLE_RATE_HZ


def in_timeline_order(chunks: Sequence[TranslatedChunk]) -> list[TranslatedChunk]:
    return sorted(chunks, key=lambda chunk: chunk.span.start_s)


def write_text(chunks: Sequence[TranslatedChunk], path: Path) -> None:
    """translation.txt: UTF-8, one paragraph per chunk, in timeline order."""
    paragraphs = [c.text.strip() for c in in_timeline_order(chunks) if c.text.strip()]
    path.write_text("\n\n".join(paragraphs) + ("\n" if paragraphs else ""), encoding="utf-8")


def write_subtitles(
    chunks: Sequence[TranslatedChunk],
    *,
    target_lang: str,
    timeline_end_s: float,
    srt_path: Path | None,
    vtt_path: Path | None,
    fps: float = DEFAULT_SUBTITLE_FPS,
) -> dict[str, Any]:
    """Writes SRT and/or VTT; returns the conformance figures for the manifest."""
    timed = [
        TimedText(text=c.text, speech_regions=c.speech, fallback=c.span)
        for c in in_timeline_order(chunks)
    ]
    cues = build_cues(timed, target_lang, timeline_end_s=timeline_end_s, fps=fps)
    if srt_path is not None:
        _write_lf(srt_path, write_srt(cues))
    if vtt_path is not None:
        _write_lf(vtt_path, write_vtt(cues))
    return conformance(cues, target_lang, fps=fps).as_dict()


def _timed(chunks: Sequence[TranslatedChunk], *, transcript: bool) -> list[TimedText]:
    return [
        TimedText(
            text=c.transcript if transcript else c.text, speech_regions=c.speech, fallback=c.span
        )
        for c in in_timeline_order(chunks)
    ]


def _source_cues(assembly: Assembly) -> list[Cue]:
    """Captions of what was said, under the source language's rules."""
    if assembly.source_lang is None:
        raise ValueError("source captions need the source language")
    return build_cues(
        _timed(assembly.chunks, transcript=True),
        assembly.source_lang,
        timeline_end_s=assembly.timeline_end_s,
        fps=DEFAULT_SUBTITLE_FPS,
    )


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
    voiced = [c for c in in_timeline_order(chunks) if c.pcm and c.speech]
    placements = place_dubs(
        [
            DubRequest(index=c.index, anchor_s=c.speech[0].start_s, duration_s=c.dub_s)
            for c in voiced
        ],
        timeline_end_s=timeline_end_s,
        max_speed=max_speed,
    )
    audio = {c.index: c.pcm for c in voiced}
    segments = (
        (placement, samples_from_pcm16(pcm=audio[placement.index])) for placement in placements
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


def _write_lf(path: Path, text: str) -> None:
    # newline="" so Python never turns LF into CRLF on any platform.
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)


@dataclass(frozen=True, slots=True)
class DubSettings:
    max_speed: float
    loudness_lufs: float
    true_peak_dbtp: float


@dataclass(frozen=True, slots=True)
class Assembly:
    """What every writer may read: the translated chunks and the job's facts."""

    chunks: Sequence[TranslatedChunk]
    target_lang: str
    timeline_end_s: float
    no_speech: bool
    dub: DubSettings
    source_lang: str | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """What a writer reports for the manifest besides its file."""

    subtitles: dict[str, Any] | None = None
    dub: DubReport | None = None
    warnings: tuple[str, ...] = ()


# Builds one output kind's file at the given path.
Writer = Callable[[Assembly, Path], Written]


def _text(assembly: Assembly, path: Path) -> Written:
    write_text(assembly.chunks, path)
    return Written()


def _srt(assembly: Assembly, path: Path) -> Written:
    return Written(subtitles=_subtitles(assembly, srt_path=path))


def _vtt(assembly: Assembly, path: Path) -> Written:
    return Written(subtitles=_subtitles(assembly, vtt_path=path))


def _subtitles(
    assembly: Assembly, *, srt_path: Path | None = None, vtt_path: Path | None = None
) -> dict[str, Any]:
    return write_subtitles(
        assembly.chunks,
        target_lang=assembly.target_lang,
        timeline_end_s=assembly.timeline_end_s,
        srt_path=srt_path,
        vtt_path=vtt_path,
    )


def _wav(assembly: Assembly, path: Path) -> Written:
    if assembly.no_speech:
        return Written(dub=silent_dub(timeline_end_s=assembly.timeline_end_s, path=path))
    report = write_dub(
        assembly.chunks,
        timeline_end_s=assembly.timeline_end_s,
        path=path,
        max_speed=assembly.dub.max_speed,
        loudness_lufs=assembly.dub.loudness_lufs,
        true_peak_dbtp=assembly.dub.true_peak_dbtp,
    )
    warnings: tuple[str, ...] = ()
    if report.overflow_s > 0:
        warnings = (
            f"dub_overflow: the dub runs {report.overflow_s:.2f} s past the end of the source",
        )
    return Written(dub=report, warnings=warnings)


def _transcript(assembly: Assembly, path: Path) -> Written:
    write_transcript(assembly.chunks, path)
    return Written()


def _source_srt(assembly: Assembly, path: Path) -> Written:
    _write_lf(path, write_srt(_source_cues(assembly)))
    return Written()


def _source_vtt(assembly: Assembly, path: Path) -> Written:
    _write_lf(path, write_vtt(_source_cues(assembly)))
    return Written()


def _bilingual_srt(assembly: Assembly, path: Path) -> Written:
    target = build_cues(
        _timed(assembly.chunks, transcript=False),
        assembly.target_lang,
        timeline_end_s=assembly.timeline_end_s,
        fps=DEFAULT_SUBTITLE_FPS,
    )
    _write_lf(path, write_bilingual_srt(bilingual_cues(_source_cues(assembly), target)))
    return Written()


# The writer of every kind in the output registry (ltb/outputs.py); a test checks that
# none is missing.
WRITERS: dict[OutputKind, Writer] = {
    OutputKind.TEXT: _text,
    OutputKind.SRT: _srt,
    OutputKind.VTT: _vtt,
    OutputKind.WAV: _wav,
    OutputKind.TRANSCRIPT: _transcript,
    OutputKind.SOURCE_SRT: _source_srt,
    OutputKind.SOURCE_VTT: _source_vtt,
    OutputKind.BILINGUAL_SRT: _bilingual_srt,
}


@dataclass(frozen=True, slots=True)
class Assembled:
    paths: dict[str, Path]
    subtitles: dict[str, Any] | None
    dub: DubReport | None
    warnings: list[str]


def assemble_outputs(
    chunks: Sequence[TranslatedChunk],
    *,
    outputs: Sequence[str],
    target_lang: str,
    timeline_end_s: float,
    out_dir: Path,
    no_speech: bool,
    dub: DubSettings,
    source_lang: str | None = None,
) -> Assembled:
    """Writes every requested output into `out_dir`; the same for one file and the service."""
    assembly = Assembly(
        chunks=chunks,
        target_lang=target_lang,
        timeline_end_s=timeline_end_s,
        no_speech=no_speech,
        dub=dub,
        source_lang=source_lang,
    )
    paths: dict[str, Path] = {}
    reports: list[Written] = []
    for kind, spec in OUTPUTS.items():
        if kind in outputs:
            paths[kind.value] = out_dir / spec.file_name
            reports.append(WRITERS[kind](assembly, paths[kind.value]))
    # SRT and VTT carry the same cues, so either one's conformance figures will do.
    return Assembled(
        paths=paths,
        subtitles=next((r.subtitles for r in reports if r.subtitles is not None), None),
        dub=next((r.dub for r in reports if r.dub is not None), None),
        warnings=[warning for r in reports for warning in r.warnings],
    )
