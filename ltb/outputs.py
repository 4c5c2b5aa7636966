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

from ltb.states import Engine, OutputKind


@dataclass(frozen=True, slots=True)
class OutputSpec:
    kind: OutputKind
    file_name: str
    content_type: str
    # Spoken in the target language: needs a target the provider speaks, and a voice.
    spoken: bool = False
    engines: frozenset[Engine] = frozenset({Engine.FILE})
    # Written from the job's cues alone: a cue edit rewrites it (others are copied as they are).
    from_cues: bool = False


# In canonical order: requests are normalised to it, and outputs are listed in it.
OUTPUTS: dict[OutputKind, OutputSpec] = {
    spec.kind: spec
    for spec in (
        OutputSpec(OutputKind.TEXT, "translation.txt", "text/plain; charset=utf-8"),
        OutputSpec(
            OutputKind.SRT, "subtitles.srt", "application/x-subrip; charset=utf-8", from_cues=True
        ),
        OutputSpec(OutputKind.VTT, "subtitles.vtt", "text/vtt; charset=utf-8", from_cues=True),
        OutputSpec(OutputKind.WAV, "dub.wav", "audio/wav", spoken=True),
    )
}

# Written for every job beside its outputs; not a kind a request names.
MANIFEST_FILE = "manifest.json"
MANIFEST_CONTENT_TYPE = "application/json"


def output_spec(kind: str) -> OutputSpec:
    return OUTPUTS[OutputKind(kind)]


def spoken(kinds: Iterable[str]) -> bool:
    """Whether any of `kinds` is spoken, so the request needs a voice and a dub."""
    return any(output_spec(kind).spoken for kind in kinds)


def revision_prefix(output_prefix: str, revision: int) -> str:
    """Where an output revision's objects live: revision 0 (as finalized) in the job's
    output prefix itself, so its keys never move; revision N under `rev-N/` inside it."""
    return output_prefix if revision == 0 else f"{output_prefix}rev-{revision}/"
