"""One chunk's text cut into cue-sized pieces, each with the slice of speech it was spoken in.

Sentences get slices of the chunk's speech in proportion to their characters (the speech
clock, which also pins sentence and clause ends to nearby pauses). A sentence too short to
be read alone joins its neighbour when both fit one cue; Thai phrases join whenever they fit.
A piece that does not fit one cue (two lines, seven seconds, no long pause inside) is split
in two at its best break, near the point that leaves as few cues as possible, until all fit.
Splitting cannot change reading speed, since time follows characters; timing handles that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import accumulate, pairwise

from ltb.timeline import Span
from pipeline.subtitles.line_breaks import choose_cue_cut, forced_lines, layout_lines
from pipeline.subtitles.rules import MAX_DURATION_S, MIN_DURATION_S, LanguageRules, reading_length
from pipeline.subtitles.sentences import ends_clause, ends_sentence, split_sentences
from pipeline.subtitles.speech_clock import SpeechClock
from pipeline.subtitles.tokens import Token, tokenize

# A pause this long inside one cue would leave its text on screen over silence; such a piece
# is split at the pause instead, unless it is short enough to sit on one line.
MAX_BRIDGED_SILENCE_S = 1.0
# Lines rarely fill to the last character, so plan cue counts against 90% of the capacity.
_CAPACITY_USE = 0.9


@dataclass(frozen=True, slots=True)
class CueDraft:
    """A cue's text and the speech it belongs to, before timing rules are applied."""

    lines: tuple[str, ...]
    speech_start_s: float
    speech_end_s: float


@dataclass(frozen=True, slots=True)
class _Piece:
    tokens: tuple[Token, ...]
    # Character offset of each token boundary in the chunk; one more entry than tokens.
    offsets: tuple[float, ...]

    def split(self, cut: int) -> tuple[_Piece, _Piece]:
        return (
            _Piece(self.tokens[:cut], self.offsets[: cut + 1]),
            _Piece(self.tokens[cut:], self.offsets[cut:]),
        )

    def joined(self, other: _Piece) -> _Piece:
        return _Piece(self.tokens + other.tokens, self.offsets + other.offsets[1:])


def draft_chunk_cues(text: str, regions: Sequence[Span], *, rules: LanguageRules) -> list[CueDraft]:
    """Cue drafts for one chunk's text spoken over `regions` (non-empty, sorted, disjoint)."""
    sentences = _sentence_pieces(text, rules=rules)
    if not sentences:
        return []
    clock = SpeechClock.over(regions, phrase_ends=_phrase_ends(sentences, rules=rules))
    drafts: list[CueDraft] = []
    for block in _merge_short_sentences(sentences, clock=clock, rules=rules):
        for piece in _split_to_fit(block, clock=clock, rules=rules):
            lines = layout_lines(piece.tokens, rules=rules) or forced_lines(piece.tokens)
            start, end = _spoken_stretch(piece, clock)
            drafts.append(
                CueDraft(
                    lines=lines,
                    speech_start_s=clock.time_at(start, opening=True),
                    speech_end_s=clock.time_at(end, opening=False),
                )
            )
    return drafts


def _phrase_ends(sentences: list[_Piece], *, rules: LanguageRules) -> list[float]:
    """Offsets where a sentence or a clause ends: where a speaker is likely to pause."""
    ends: list[float] = []
    for sentence in sentences:
        for index, token in enumerate(sentence.tokens[:-1]):
            if ends_clause(token.text, lang=rules.lang) or ends_sentence(
                token.text, lang=rules.lang
            ):
                ends.append(sentence.offsets[index + 1])
        ends.append(sentence.offsets[-1])
    return ends


def _spoken_stretch(piece: _Piece, clock: SpeechClock) -> tuple[float, float]:
    """The offsets a piece is timed over: all of it, or its longest part between long pauses.

    Only a piece too short to split further still spans a long pause; shown over the pause it
    would sit on silence, so it keeps to the side where most of its characters were spoken.
    """
    bounds = [piece.offsets[0], *_long_silences(piece, clock), piece.offsets[-1]]
    return max(pairwise(bounds), key=lambda stretch: stretch[1] - stretch[0])


def _sentence_pieces(text: str, *, rules: LanguageRules) -> list[_Piece]:
    pieces: list[_Piece] = []
    offset = 0.0
    for sentence in split_sentences(text, rules.lang):
        tokens = tokenize(sentence, rules=rules)
        if not tokens:
            continue
        if pieces and not rules.unspaced:
            # Sentences are tokenized apart; a space still separates them when they share a cue.
            tokens[0] = replace(tokens[0], spaced=True)
        space = reading_length(" ", rules=rules)
        weights = (
            reading_length(token.text, rules=rules) + (space if token.spaced else 0.0)
            for token in tokens
        )
        offsets = tuple(accumulate(weights, initial=offset))
        pieces.append(_Piece(tuple(tokens), offsets))
        offset = offsets[-1]
    return pieces


def _merge_short_sentences(
    sentences: list[_Piece], *, clock: SpeechClock, rules: LanguageRules
) -> list[_Piece]:
    """Joins a sentence too short to read alone to its neighbour, when both fit one cue.

    Thai "sentences" are phrases, so they join whenever they fit, as words of a sentence would.
    """
    blocks: list[_Piece] = []
    for sentence in sentences:
        if blocks and (
            rules.spaces_separate_phrases
            or _duration_s(blocks[-1], clock) < MIN_DURATION_S
            or _duration_s(sentence, clock) < MIN_DURATION_S
        ):
            merged = blocks[-1].joined(sentence)
            if (
                layout_lines(merged.tokens, rules=rules) is not None
                and _duration_s(merged, clock) <= MAX_DURATION_S
                and not _long_silences(merged, clock)
            ):
                blocks[-1] = merged
                continue
        blocks.append(sentence)
    return blocks


def _split_to_fit(piece: _Piece, *, clock: SpeechClock, rules: LanguageRules) -> list[_Piece]:
    """Splits a piece in two at its best break until every part fits one cue."""
    done: list[_Piece] = []
    # Iterative, not recursive: breaks chosen for punctuation can be lopsided on long texts.
    pending = [piece]
    while pending:
        current = pending.pop()
        if len(current.tokens) == 1 or _fits(current, clock=clock, rules=rules):
            done.append(current)
            continue
        cut = choose_cue_cut(
            current.tokens,
            current.offsets,
            target=_cut_target(current, clock=clock, rules=rules),
            lang=rules.lang,
        )
        left, right = current.split(cut)
        pending.extend((right, left))
    return done


def _fits(piece: _Piece, *, clock: SpeechClock, rules: LanguageRules) -> bool:
    lines = layout_lines(piece.tokens, rules=rules)
    if lines is None:
        return False
    if len(lines) == 1:
        # A single line is not split for time or pauses: a cue of a word or two reads worse
        # than one that stands longer, and timing caps every cue at 7 s anyway.
        return True
    return _duration_s(piece, clock) <= MAX_DURATION_S and not _long_silences(piece, clock)


def _cut_target(piece: _Piece, *, clock: SpeechClock, rules: LanguageRules) -> float:
    """The offset to split near: a long pause if there is one, else where the fewest cues result."""
    start, end = piece.offsets[0], piece.offsets[-1]
    middle = (start + end) / 2
    silences = _long_silences(piece, clock)
    if silences:
        return min(silences, key=lambda offset: abs(offset - middle))
    by_chars = math.ceil((end - start) / (rules.max_chars_per_cue * _CAPACITY_USE))
    by_time = math.ceil(_duration_s(piece, clock) / MAX_DURATION_S)
    cues = max(2, by_chars, by_time)
    return start + (end - start) * (cues // 2) / cues


def _long_silences(piece: _Piece, clock: SpeechClock) -> list[float]:
    return [
        silence.offset
        for silence in clock.silences_between(piece.offsets[0], piece.offsets[-1])
        if silence.duration_s > MAX_BRIDGED_SILENCE_S
    ]


def _duration_s(piece: _Piece, clock: SpeechClock) -> float:
    return clock.time_at(piece.offsets[-1], opening=False) - clock.time_at(
        piece.offsets[0], opening=True
    )
