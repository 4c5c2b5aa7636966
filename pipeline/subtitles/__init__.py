"""Subtitles from translated chunk texts and the speech map: cues, SRT/VTT, conformance.

Pure functions: values in, values out. The rules are in docs/architecture.md ("Outputs" → "SRT").
"""

from pipeline.subtitles.builder import build_cues
from pipeline.subtitles.conformance import SubtitleConformance, conformance
from pipeline.subtitles.cues import Cue, TimedText
from pipeline.subtitles.rules import LanguageRules, rules_for
from pipeline.subtitles.sentences import split_clauses, split_sentences
from pipeline.subtitles.writers import write_srt, write_vtt

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
