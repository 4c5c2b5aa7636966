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


BOTH = frozenset({Engine.FILE, Engine.REALTIME})
REALTIME = frozenset({Engine.REALTIME})

# In canonical order: requests are normalised to it, and outputs are listed in it.
OUTPUTS: dict[OutputKind, OutputSpec] = {
    spec.kind: spec
    for spec in (
        OutputSpec(OutputKind.TEXT, "translation.txt", "text/plain; charset=utf-8", engines=BOTH),
        OutputSpec(
            OutputKind.SRT, "subtitles.srt", "application/x-subrip; charset=utf-8", engines=BOTH
        ),
        OutputSpec(OutputKind.VTT, "subtitles.vtt", "text/vtt; charset=utf-8", engines=BOTH),
        OutputSpec(OutputKind.WAV, "dub.wav", "audio/wav", spoken=True, engines=BOTH),
        # --- realtime engine: the source transcript comes with every answer ---------------
        OutputSpec(
            OutputKind.TRANSCRIPT, "transcript.txt", "text/plain; charset=utf-8", engines=REALTIME
        ),
        OutputSpec(
            OutputKind.SOURCE_SRT,
            "source.srt",
            "application/x-subrip; charset=utf-8",
            engines=REALTIME,
        ),
        OutputSpec(
            OutputKind.SOURCE_VTT, "source.vtt", "text/vtt; charset=utf-8", engines=REALTIME
        ),
        OutputSpec(
            OutputKind.BILINGUAL_SRT,
            "bilingual.srt",
            "application/x-subrip; charset=utf-8",
            engines=REALTIME,
        ),
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
