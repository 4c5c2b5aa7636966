"""Text cut into the units a line or a cue may break between.

Spaced scripts break between words; zh, yue and ja between characters (keeping Latin words,
numbers and punctuation with their neighbours). A word too long for a line is cut into
grapheme clusters marked `glued`, so a break inside it is possible but discouraged.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline.subtitles.rules import LanguageRules, is_blank, line_length

# Zero-width space and BOM carry no meaning in a subtitle line, and would make a line that
# looks blank to a viewer pass as text.
_DROPPED = frozenset("\u200b\ufeff")
_ZERO_WIDTH_JOINER = "\u200d"
_MARK_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Cf"})
# Punctuation that opens a phrase: it stays with the character after it.
OPENING_PUNCTUATION = frozenset("“‘«‹([{「『（【〔〈《〖¿¡")
# Straight quotes open or close depending on how many came before them in the word.
_STRAIGHT_QUOTES = frozenset("\"'")
# Japanese kinsoku: these never start a line, so they stay with the character before them.
_NO_LINE_START = frozenset(
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿーゝゞヽヾ々〻"
)
# Inside a number or a Latin word these join the characters around them ("3.5", "e-mail").
_WORD_JOINERS = frozenset(".,:/-'’")
# Thai and Lao vowels written before the consonant they follow in speech.
_LEADING_VOWELS = frozenset("เแโใไເແໂໃໄ")


@dataclass(frozen=True, slots=True)
class Token:
    """A unit lines and cues break between."""

    text: str
    # A space separates it from the previous token when both sit on one line.
    spaced: bool
    # It continues the previous token's word: breaking here splits a word.
    glued: bool


def normalize_text(text: str) -> str:
    """Collapses whitespace and drops what cannot appear in a subtitle line."""
    kept: list[str] = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif char in _DROPPED or unicodedata.category(char) in ("Cc", "Cs"):
            continue
        else:
            kept.append(char)
    # "-->" is the timing arrow of SRT and VTT; inside cue text it would corrupt the file.
    return " ".join("".join(kept).split()).replace("-->", "→")


def tokenize(text: str, *, rules: LanguageRules) -> list[Token]:
    """Splits text into break units for the language; no unit is blank."""
    tokens: list[Token] = []
    # An invisible unit (a lone filler or joiner) never stands alone, or a line could be blank.
    invisible = ""
    for word in normalize_text(text).split(" "):
        if is_blank(word):
            continue
        units = _unspaced_units(word) if rules.unspaced else [word]
        for unit_index, unit in enumerate(units):
            for piece_index, piece in enumerate(_fit_to_line(unit, rules.max_chars_per_line)):
                if is_blank(piece):
                    if tokens:
                        tokens[-1] = replace(tokens[-1], text=tokens[-1].text + piece)
                    else:
                        invisible += piece
                    continue
                starts_word = unit_index == 0 and piece_index == 0
                tokens.append(
                    Token(
                        text=invisible + piece,
                        spaced=bool(tokens) and starts_word,
                        glued=piece_index > 0,
                    )
                )
                invisible = ""
    return tokens


def join_tokens(tokens: Sequence[Token]) -> str:
    """The text of tokens laid out on one line."""
    parts: list[str] = []
    for index, token in enumerate(tokens):
        if index and token.spaced:
            parts.append(" ")
        parts.append(token.text)
    return "".join(parts)


def grapheme_clusters(text: str) -> list[str]:
    """Approximate user-perceived characters: a base with its marks, joiners and leading vowels."""
    clusters: list[str] = []
    for char in text:
        attaches = bool(clusters) and (
            unicodedata.category(char) in _MARK_CATEGORIES
            or _is_invisible_selector(char)
            or clusters[-1].endswith(_ZERO_WIDTH_JOINER)
            or clusters[-1][-1] in _LEADING_VOWELS
        )
        if attaches:
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _fit_to_line(unit: str, max_chars: int) -> list[str]:
    if line_length(unit) <= max_chars:
        return [unit]
    pieces: list[str] = []
    for cluster in grapheme_clusters(unit):
        if line_length(cluster) <= max_chars:
            pieces.append(cluster)
            continue
        # A cluster longer than a line only comes from stacked marks; cut it by code point.
        pieces.extend(
            cluster[offset : offset + max_chars] for offset in range(0, len(cluster), max_chars)
        )
    return pieces


def _unspaced_units(word: str) -> list[str]:
    units: list[str] = []
    opening = ""
    quotes_seen = 0
    for char in word:
        opens = char in OPENING_PUNCTUATION or unicodedata.category(char) in ("Ps", "Pi")
        if char in _STRAIGHT_QUOTES:
            # After a letter it closes a quote or is an apostrophe ("don't"); both stay attached.
            opens = quotes_seen % 2 == 0 and not (units and _is_narrow_word_char(units[-1][-1]))
            quotes_seen += 1
        if opens:
            opening += char
            continue
        if units and not opening and _continues_unit(units[-1], char):
            units[-1] += char
        else:
            units.append(opening + char)
            opening = ""
    if opening:
        if units:
            units[-1] += opening
        else:
            units.append(opening)
    return units


def _continues_unit(unit: str, char: str) -> bool:
    category = unicodedata.category(char)
    if category in _MARK_CATEGORIES or _is_invisible_selector(char):
        return True
    if unit.endswith(_ZERO_WIDTH_JOINER) or char in _NO_LINE_START:
        return True
    if category[0] == "P" or (category in ("Sk", "So") and not _is_wide(char)):
        return True
    if _is_narrow_word_char(char):
        last = unit[-1]
        if _is_narrow_word_char(last):
            return True
        return last in _WORD_JOINERS and len(unit) >= 2 and _is_narrow_word_char(unit[-2])
    return False


def _is_narrow_word_char(char: str) -> bool:
    return not _is_wide(char) and (char.isalnum() or char == "_")


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _is_invisible_selector(char: str) -> bool:
    return "\ufe00" <= char <= "\ufe0f" or "\U000e0100" <= char <= "\U000e01ef"
