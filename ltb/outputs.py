"""The output registry: every file kind a job can ask for, declared once.

Each kind states its file name, its content type, whether it is spoken (then only
targets the provider can speak allow it) and which engines can build it. Views,
finalize, assembly, the estimate and the CLI all read this table. Adding a kind is one
entry here plus its writer in `pipeline/assemble.py` `WRITERS`; a test fails until both
exist.

The writers stay on the worker side, in a table keyed by the same kinds, rather than as
dotted paths here: the API imports this module and must never load worker code, and a
typed table is checked by mypy where a string would only fail when first resolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from ltb.errors import RequestRefused
from ltb.states import DubMix, Engine, OutputKind


@dataclass(frozen=True, slots=True)
class OutputSpec:
    kind: OutputKind
    file_name: str
    content_type: str
    # Spoken in the target language: needs a target the provider speaks, and a voice.
    spoken: bool = False
    engines: frozenset[Engine] = frozenset({Engine.FILE})
    # Copies the source's picture: refused for a source without one.
    needs_video: bool = False
    # Made when a request names no outputs (`ltb translate` without --outputs). The
    # deliverables are asked for by name: each is a second copy of the source's size.
    by_default: bool = True
    # Written from the job's cues alone: a cue edit rewrites it (others are copied as they are).
    from_cues: bool = False


BOTH = frozenset({Engine.FILE, Engine.REALTIME})
REALTIME = frozenset({Engine.REALTIME})

# In canonical order: requests are normalised to it, and outputs are listed in it.
OUTPUTS: dict[OutputKind, OutputSpec] = {
    spec.kind: spec
    for spec in (
        OutputSpec(OutputKind.TEXT, "translation.txt", "text/plain; charset=utf-8", engines=BOTH),
        OutputSpec(
            OutputKind.SRT,
            "subtitles.srt",
            "application/x-subrip; charset=utf-8",
            engines=BOTH,
            from_cues=True,
        ),
        OutputSpec(
            OutputKind.VTT, "subtitles.vtt", "text/vtt; charset=utf-8", engines=BOTH, from_cues=True
        ),
        OutputSpec(OutputKind.WAV, "dub.wav", "audio/wav", spoken=True, engines=BOTH),
        # Deliverables (pipeline/deliver): the dub mixed as the request's dub_mix says.
        OutputSpec(
            OutputKind.TTML,
            "subtitles.ttml",
            "application/ttml+xml",
            engines=BOTH,
            by_default=False,
            from_cues=True,
        ),
        OutputSpec(
            OutputKind.MIX_WAV,
            "mix.wav",
            "audio/wav",
            spoken=True,
            engines=BOTH,
            by_default=False,
        ),
        OutputSpec(
            OutputKind.MP4,
            "dubbed.mp4",
            "video/mp4",
            spoken=True,
            engines=BOTH,
            needs_video=True,
            by_default=False,
        ),
        OutputSpec(
            OutputKind.MKV,
            "dubbed.mkv",
            "video/x-matroska",
            spoken=True,
            engines=BOTH,
            needs_video=True,
            by_default=False,
        ),
        # --- realtime engine: the source transcript comes with every answer ---------------
        # Asked for by name. Written from the transcript, so a cue edit (of the target
        # cues) leaves them as they are; the bilingual track keeps the cues it was made with.
        OutputSpec(
            OutputKind.TRANSCRIPT,
            "transcript.txt",
            "text/plain; charset=utf-8",
            engines=REALTIME,
            by_default=False,
        ),
        OutputSpec(
            OutputKind.SOURCE_SRT,
            "source.srt",
            "application/x-subrip; charset=utf-8",
            engines=REALTIME,
            by_default=False,
        ),
        OutputSpec(
            OutputKind.SOURCE_VTT,
            "source.vtt",
            "text/vtt; charset=utf-8",
            engines=REALTIME,
            by_default=False,
        ),
        OutputSpec(
            OutputKind.BILINGUAL_SRT,
            "bilingual.srt",
            "application/x-subrip; charset=utf-8",
            engines=REALTIME,
            by_default=False,
        ),
    )
}

# How the dub is mixed with the source's soundtrack (mix_wav, mp4, mkv): the request's
# dub_mix and duck_db. The duck is bounded: below -40 dB the original is gone anyway.
DEFAULT_DUB_MIX = DubMix.REPLACE
DEFAULT_DUCK_DB = -15.0
MIN_DUCK_DB = -40.0
MAX_DUCK_DB = 0.0

# Source keys whose extension says sound only: a video output asked of one is refused at
# submission. Any other source is probed when the job is planned.
AUDIO_ONLY_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus"})

# Written for every job beside its outputs; not a kind a request names.
MANIFEST_FILE = "manifest.json"
MANIFEST_CONTENT_TYPE = "application/json"


def output_spec(kind: str) -> OutputSpec:
    return OUTPUTS[OutputKind(kind)]


def spoken(kinds: Iterable[str]) -> bool:
    """Whether any of `kinds` is spoken, so the request needs a voice and a dub."""
    return any(output_spec(kind).spoken for kind in kinds)


def engine_refusal(kinds: Iterable[str], engine: Engine) -> tuple[str, str] | None:
    """(code, message) when `engine` cannot build one of `kinds`, else None. The code
    names an engine that can (`output_needs_realtime_engine`), from the registry."""
    for kind in kinds:
        spec = output_spec(kind)
        if engine not in spec.engines:
            able = sorted(engine.value for engine in spec.engines)
            return (
                f"output_needs_{able[0]}_engine",
                f"the output {kind!r} is built only by the {' or '.join(able)} engine; "
                f"ask for engine {able[0]!r}, or leave {kind!r} out",
            )
    return None


def needs_video(kinds: Iterable[str]) -> tuple[str, ...]:
    """The kinds of `kinds` that copy the source's picture."""
    return tuple(kind for kind in kinds if output_spec(kind).needs_video)


def check_video_outputs(kinds: Iterable[str], *, has_video: bool, source: str) -> None:
    """Refuses video outputs for a source without a picture: nothing stands in for one."""
    wanting = needs_video(kinds)
    if wanting and not has_video:
        raise RequestRefused(
            f"{source} has no video, so there is no dubbed video to make "
            f"({', '.join(wanting)}); ask for the dub as audio (wav, mix_wav) or for "
            "subtitles instead",
            code="video_output_needs_video",
        )


def audio_only_key(uri: str) -> bool:
    """Whether a source's name says it is sound only (by its extension)."""
    return PurePosixPath(uri).suffix.lower() in AUDIO_ONLY_EXTENSIONS


def revision_prefix(output_prefix: str, revision: int) -> str:
    """Where an output revision's objects live: revision 0 (as finalized) in the job's
    output prefix itself, so its keys never move; revision N under `rev-N/` inside it."""
    return output_prefix if revision == 0 else f"{output_prefix}rev-{revision}/"
