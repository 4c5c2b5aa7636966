"""Subtitles from translated chunk texts and the speech map: cues, SRT/VTT, conformance.

Pure functions: values in, values out. The rules are in docs/architecture.md ("Outputs" → "SRT").
"""

from worker.subtitles.builder import build_cues
from worker.subtitles.conformance import SubtitleConformance, conformance
from worker.subtitles.cues import Cue, TimedText
from worker.subtitles.rules import LanguageRules, rules_for
from worker.subtitles.sentences import split_clauses, split_sentences
from worker.subtitles.writers import write_srt, write_vtt

__all__ = [
    "Cue",
    "LanguageRules",
    "SubtitleConformance",
    "TimedText",
    "build_cues",
    "conformance",
    "rules_for",
    "split_clauses",
    "split_sentences",
    "write_srt",
    "write_vtt",
]
