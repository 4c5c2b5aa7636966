"""assemble: the outputs, built from the chunks' translations and the speech map.

Timing comes from the speech map, never from the provider: subtitles are spread over
each chunk's speech regions, and each chunk's dub starts at its first speech region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltb.outputs import OUTPUTS
from ltb.states import OutputKind
from pipeline.assembly import (
    DEFAULT_SUBTITLE_FPS,
    Assembly,
    DubSettings,
    MixSettings,
    SourceMedia,
    TranslatedChunk,
    Writer,
    Written,
    dub_warnings,
    in_timeline_order,
)
from pipeline.deliver.mix import MixReport
from pipeline.deliver.writers import write_mix_wav, write_mkv, write_mp4, write_ttml_file
from pipeline.dub import DubReport
from pipeline.source_captions import bilingual_cues, write_bilingual_srt, write_transcript
from pipeline.subtitles import Cue, conformance, write_srt, write_vtt

# The context types live in pipeline.assembly; the callers know them from here.
__all__ = [
    "WRITERS",
    "Assembled",
    "Assembly",
    "DubSettings",
    "MixSettings",
    "SourceMedia",
    "TranslatedChunk",
    "Writer",
    "Written",
    "assemble_outputs",
    "write_subtitles",
    "write_text",
]


def write_text(chunks: Sequence[TranslatedChunk], path: Path) -> None:
    """translation.txt: UTF-8, one paragraph per chunk, in timeline order."""
    paragraphs = [c.text.strip() for c in in_timeline_order(chunks) if c.text.strip()]
    path.write_text("\n\n".join(paragraphs) + ("\n" if paragraphs else ""), encoding="utf-8")


def write_subtitles(
    cues: Sequence[Cue],
    *,
    target_lang: str,
    srt_path: Path | None,
    vtt_path: Path | None,
    fps: float = DEFAULT_SUBTITLE_FPS,
) -> dict[str, Any]:
    """Writes SRT and/or VTT; returns the conformance figures for the manifest."""
    if srt_path is not None:
        _write_lf(srt_path, write_srt(cues))
    if vtt_path is not None:
        _write_lf(vtt_path, write_vtt(cues))
    return conformance(cues, target_lang, fps=fps).as_dict()


def _source_cues(assembly: Assembly) -> list[Cue]:
    """Captions of what was said: built by the caller from the transcript it has."""
    if assembly.source_cues is None:
        raise ValueError("source captions need the source transcript and its language")
    return list(assembly.source_cues)


def _write_lf(path: Path, text: str) -> None:
    # newline="" so Python never turns LF into CRLF on any platform.
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)


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
        assembly.cues(), target_lang=assembly.target_lang, srt_path=srt_path, vtt_path=vtt_path
    )


def _wav(assembly: Assembly, path: Path) -> Written:
    report = assembly.write_dub(path)
    return Written(dub=report, warnings=dub_warnings(report))


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
    target = assembly.cues()
    _write_lf(path, write_bilingual_srt(bilingual_cues(_source_cues(assembly), target)))
    return Written()


# The writer of every kind in the output registry (ltb/outputs.py); a test checks that
# none is missing.
WRITERS: dict[OutputKind, Writer] = {
    OutputKind.TEXT: _text,
    OutputKind.SRT: _srt,
    OutputKind.VTT: _vtt,
    OutputKind.WAV: _wav,
    # Deliverables (pipeline/deliver/writers.py).
    OutputKind.TTML: write_ttml_file,
    OutputKind.MIX_WAV: write_mix_wav,
    OutputKind.MP4: write_mp4,
    OutputKind.MKV: write_mkv,
    # The realtime engine's source transcript (pipeline/source_captions.py).
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
    # The cues the subtitle kinds were written from (empty when none was asked for).
    cues: list[Cue]
    mix: MixReport | None = None


def assemble_outputs(
    chunks: Sequence[TranslatedChunk],
    *,
    outputs: Sequence[str],
    target_lang: str,
    timeline_end_s: float,
    out_dir: Path,
    no_speech: bool,
    dub: DubSettings,
    work_dir: Path | None = None,
    mix: MixSettings | None = None,
    source: SourceMedia | None = None,
    source_cues: Sequence[Cue] | None = None,
    cues: Sequence[Cue] | None = None,
) -> Assembled:
    """Writes every requested output into `out_dir`; the same for one file and the service.

    `work_dir` (`out_dir` if not given) holds what is made only for other outputs: the
    dub when only the mix is asked for, the mix itself (FLAC). `source` is
    needed by the mix ("voiceover") and the dubbed videos. `cues`, when given, are
    written instead of cues built from the chunks (a cue edit).
    """
    assembly = Assembly(
        chunks=chunks,
        target_lang=target_lang,
        timeline_end_s=timeline_end_s,
        no_speech=no_speech,
        dub=dub,
        work_dir=work_dir or out_dir,
        mix=mix or MixSettings(),
        source=source,
        source_cues=tuple(source_cues) if source_cues is not None else None,
        edited_cues=tuple(cues) if cues is not None else None,
    )
    paths: dict[str, Path] = {}
    reports: list[Written] = []
    for kind, spec in OUTPUTS.items():
        if kind in outputs:
            paths[kind.value] = out_dir / spec.file_name
            reports.append(WRITERS[kind](assembly, paths[kind.value]))
    needs_cues = any(OUTPUTS[OutputKind(kind)].from_cues for kind in outputs)
    # SRT and VTT carry the same cues, so either one's conformance figures will do.
    return Assembled(
        paths=paths,
        subtitles=next((r.subtitles for r in reports if r.subtitles is not None), None),
        dub=next((r.dub for r in reports if r.dub is not None), None),
        mix=next((r.mix for r in reports if r.mix is not None), None),
        warnings=[warning for r in reports for warning in r.warnings],
        cues=assembly.cues() if needs_cues else [],
    )
