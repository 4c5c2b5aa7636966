"""assemble: the outputs, built from the chunks' translations and the speech map.

Timing comes from the speech map, never from the provider: subtitles are spread over
each chunk's speech regions, and each chunk's dub starts at its first speech region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltb.timeline import Span
from ltb.views import OUTPUT_FILES
from worker.dub import DubReport, DubRequest, place_dubs, render_dub, samples_from_pcm16
from worker.dub.pcm import SAMPLE_RATE_HZ
from worker.subtitles import TimedText, build_cues, conformance, write_srt, write_vtt

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
) -> Assembled:
    """Writes every requested output into `out_dir`; the same for one file and the service."""
    paths = {kind: out_dir / name for kind, name in OUTPUT_FILES.items() if kind in outputs}
    warnings: list[str] = []
    if "text" in paths:
        write_text(chunks, paths["text"])
    subtitles = None
    if "srt" in paths or "vtt" in paths:
        subtitles = write_subtitles(
            chunks,
            target_lang=target_lang,
            timeline_end_s=timeline_end_s,
            srt_path=paths.get("srt"),
            vtt_path=paths.get("vtt"),
        )
    report = None
    if "wav" in paths:
        if no_speech:
            report = silent_dub(timeline_end_s=timeline_end_s, path=paths["wav"])
        else:
            report = write_dub(
                chunks,
                timeline_end_s=timeline_end_s,
                path=paths["wav"],
                max_speed=dub.max_speed,
                loudness_lufs=dub.loudness_lufs,
                true_peak_dbtp=dub.true_peak_dbtp,
            )
            if report.overflow_s > 0:
                warnings.append(
                    f"dub_overflow: the dub runs {report.overflow_s:.2f} s past the end of the source"
                )
    return Assembled(paths=paths, subtitles=subtitles, dub=report, warnings=warnings)
