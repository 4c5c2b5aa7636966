"""What the source said, as the realtime engine transcribes it: a plain transcript, and
bilingual captions (the source line above the target line).

Bilingual cues are laid on the union of both tracks' timings: wherever either track's
cue starts or ends, a new bilingual cue shows whatever each track shows then. Each half
keeps its own cue's lines, so each stays within its own language's limits.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ltb.timeline import Span
from pipeline.subtitles import Cue
from pipeline.subtitles.writers import checked_cues

# A bilingual cue shorter than this is folded into the one before it (two tracks whose
# cues end a few frames apart would otherwise flash a cue for a frame).
MIN_BILINGUAL_S = 0.25


class HasTranscript(Protocol):
    @property
    def transcript(self) -> str: ...

    @property
    def span(self) -> Span: ...


@dataclass(frozen=True, slots=True)
class BilingualCue:
    start_s: float
    end_s: float
    source: tuple[str, ...]
    target: tuple[str, ...]


def write_transcript(chunks: Sequence[HasTranscript], path: Path) -> None:
    """transcript.txt: UTF-8, one paragraph per utterance, in timeline order."""
    ordered = sorted(chunks, key=lambda c: c.span.start_s)
    paragraphs = [c.transcript.strip() for c in ordered if c.transcript.strip()]
    path.write_text("\n\n".join(paragraphs) + ("\n" if paragraphs else ""), encoding="utf-8")


def bilingual_cues(source: Sequence[Cue], target: Sequence[Cue]) -> list[BilingualCue]:
    """One track of cues showing both languages; see the module's docstring."""
    times = sorted({t for cue in (*source, *target) for t in (cue.start_s, cue.end_s)})
    cues: list[BilingualCue] = []
    for start_s, end_s in itertools.pairwise(times):
        src = _showing(source, start_s, end_s)
        tgt = _showing(target, start_s, end_s)
        if not src and not tgt:
            continue
        previous = cues[-1] if cues else None
        joined = previous is not None and previous.end_s == start_s
        if (
            joined
            and previous is not None
            and (
                (previous.source, previous.target) == (src, tgt)
                or end_s - start_s < MIN_BILINGUAL_S
            )
        ):
            cues[-1] = BilingualCue(previous.start_s, end_s, previous.source, previous.target)
            continue
        cues.append(BilingualCue(start_s, end_s, src, tgt))
    return cues


def write_bilingual_srt(cues: Sequence[BilingualCue]) -> str:
    """SubRip with the source lines above the target lines in each cue; each half passes
    the same checks as a one-language cue."""
    blocks = []
    for number, cue in enumerate(cues, start=1):
        halves = [lines for lines in (cue.source, cue.target) if lines]
        checked = [checked_cues([Cue(cue.start_s, cue.end_s, lines)])[0] for lines in halves]
        first = checked[0]
        lines = [line for half in checked for line in half.lines]
        blocks.append(
            f"{number}\n{_timestamp(first.start_ms)} --> {_timestamp(first.end_ms)}\n"
            + "".join(f"{line}\n" for line in lines)
        )
    return "\n".join(blocks)


def _showing(cues: Sequence[Cue], start_s: float, end_s: float) -> tuple[str, ...]:
    middle = (start_s + end_s) / 2
    for cue in cues:
        if cue.start_s <= middle < cue.end_s:
            return cue.lines
    return ()


def _timestamp(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"
