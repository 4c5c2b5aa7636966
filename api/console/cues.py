"""A finished job's cue table: its SRT read back from the outputs, each cue checked
against the target language's subtitle rules with the worker's own conformance code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import srt

from ltb.errors import LtbError
from ltb.storage import ObjectRef, ObjectStore
from pipeline.subtitles.conformance import rules_met
from pipeline.subtitles.cues import Cue

# A subtitle file this large is far past any real job's; the page stays responsive.
MAX_SRT_BYTES = 8 * 1024 * 1024
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
RULE_NAMES = {
    "max_chars_per_line": "characters per line",
    "max_lines": "lines",
    "min_duration": "minimum duration",
    "max_duration": "maximum duration",
    "reading_speed": "reading speed",
    "min_gap": "gap to next cue",
}


@dataclass(frozen=True, slots=True)
class CueRow:
    index: int
    start_s: float
    end_s: float
    text: str
    source_text: str | None
    violations: tuple[str, ...]


def read_cues(store: ObjectStore, output_prefix: str, target_lang: str) -> list[CueRow]:
    """The job's cues in timeline order; an unreadable SRT raises LtbError(code=...).

    Judged at conformance's default frame rate, the one the worker built and judged them
    at, so the table agrees with the manifest's shares."""
    raw = store.get_bytes(ObjectRef.parse(output_prefix + "subtitles.srt"), max_bytes=MAX_SRT_BYTES)
    try:
        parsed = sorted(srt.parse(raw.decode("utf-8-sig")), key=lambda s: (s.start, s.end))
    except (UnicodeDecodeError, srt.SRTParseError) as exc:
        raise LtbError(f"the job's subtitles.srt cannot be read: {exc}", code="bad_srt") from exc
    cues = [
        Cue(
            start_s=sub.start.total_seconds(),
            end_s=sub.end.total_seconds(),
            lines=tuple(line for line in sub.content.splitlines() if line.strip()),
        )
        for sub in parsed
    ]
    met = rules_met(cues, target_lang)
    return [
        CueRow(
            index=i + 1,
            start_s=cue.start_s,
            end_s=cue.end_s,
            text="\n".join(cue.lines),
            # The provider returns the translation only; no source transcript is kept.
            source_text=None,
            violations=tuple(RULE_NAMES[rule] for rule, ok in rules.items() if not ok),
        )
        for i, (cue, rules) in enumerate(zip(cues, met, strict=True))
    ]


def read_manifest(store: ObjectStore, output_prefix: str) -> dict[str, Any] | None:
    """The job's manifest, or None when it cannot be read (the page shows less)."""
    try:
        raw = store.get_bytes(
            ObjectRef.parse(output_prefix + "manifest.json"), max_bytes=MAX_MANIFEST_BYTES
        )
        manifest = json.loads(raw)
    except (LtbError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def source_video(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """The source's video properties, when the manifest says it has video."""
    source = (manifest or {}).get("source")
    video = source.get("video") if isinstance(source, dict) else None
    return video if isinstance(video, dict) else None
