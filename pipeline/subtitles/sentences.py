"""Sentence and clause boundaries for the 18 target languages.

Latin-style marks end a sentence only before a space and a word that is not lower-case, so
decimals ("3.5"), abbreviations ("Dr.", "e.g.") and trailing ellipses hold together.
Full-width, Arabic and Devanagari enders need no space after them. Thai writes no sentence
punctuation; spaces separate its phrases, so phrases stand in for sentences.
"""

from __future__ import annotations

from pipeline.subtitles.rules import UNSPACED_LANGS, is_blank
from pipeline.subtitles.tokens import OPENING_PUNCTUATION, normalize_text

# End a sentence wherever they appear.
_HARD_ENDERS = frozenset("。！？｡．।॥؟۔")
# End a sentence only before a space or the end of the text.
_SOFT_ENDERS = frozenset(".!?…‼⁇⁈⁉")
# The Greek question mark is ";" (or its canonical twin U+037E), not a semicolon.
_GREEK_QUESTION = frozenset(";\u037e")
# Greek's semicolon is the raised dot, the ano teleia.
_GREEK_ANO_TELEIA = frozenset("\u0387\u00b7")
_HARD_CLAUSE_MARKS = frozenset("，、；：،؛﹐﹑")
_SOFT_CLAUSE_MARKS = frozenset(",;:")
# Closing quotes and brackets after an ender belong to the sentence they close.
CLOSING_PUNCTUATION = frozenset("\"'”’»›)]}」』）】〕〉》〗")
_LEADING_PUNCTUATION = OPENING_PUNCTUATION | frozenset("\"'")

# Titles and abbreviations that precede a capitalised word without ending the sentence;
# abbreviations followed by lower case are caught by the lower-case rule instead.
_ABBREVIATIONS = frozenset(
    {
        # en
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "rev", "gen", "col",
        "capt", "lt", "sgt", "hon", "vs", "cf", "ca", "approx", "fig",
        # fr, de, es, pt, it
        "mme", "mmes", "mlle", "mlles", "mgr", "hr", "hrn", "bzw", "nr", "vgl", "sra",
        "srta", "dra", "dña", "ud", "uds", "lic", "ing", "exmo", "exma", "sig", "sigg",
        "dott", "avv",
        # ru, el, tr, id, vi
        "г-н", "г-жа", "проф", "акад", "κ", "κα", "sn", "doç", "bpk", "sdr", "ir", "drs",
        "ts", "ths", "gs", "pgs",
    }
)  # fmt: skip


def split_sentences(text: str, lang: str) -> list[str]:
    """Splits translated text into sentences (phrases for Thai), punctuation kept with each."""
    cleaned = normalize_text(text)
    if lang == "th":
        return [phrase for phrase in cleaned.split(" ") if not is_blank(phrase)]
    sentences: list[str] = []
    start = index = 0
    while index < len(cleaned):
        end = _sentence_end(cleaned, index, lang)
        if end is None:
            index += 1
            continue
        _append_piece(sentences, cleaned[start:end])
        start = index = end
    _append_piece(sentences, cleaned[start:])
    return sentences


def split_clauses(text: str, lang: str) -> list[str]:
    """Splits text into clauses: sentences, then at commas, semicolons and colons of the script."""
    clauses: list[str] = []
    for sentence in split_sentences(text, lang):
        start = 0
        for index in range(len(sentence)):
            if _ends_clause_at(sentence, index, lang):
                _append_piece(clauses, sentence[start : index + 1])
                start = index + 1
        _append_piece(clauses, sentence[start:])
    return clauses


def ends_sentence(word: str, *, lang: str) -> bool:
    """True when a break right after this word follows the end of a sentence."""
    core = word.rstrip("".join(CLOSING_PUNCTUATION))
    if not core:
        return False
    last = core[-1]
    if last in _HARD_ENDERS or (lang in UNSPACED_LANGS and last in "!?"):
        return True
    if last in _SOFT_ENDERS or (lang == "el" and last in _GREEK_QUESTION):
        return not (
            last == "." and _is_abbreviation(core[:-1].lstrip("".join(_LEADING_PUNCTUATION)))
        )
    return False


def ends_clause(word: str, *, lang: str) -> bool:
    """True when a break right after this word follows a clause mark."""
    core = word.rstrip("".join(CLOSING_PUNCTUATION))
    return bool(core) and _is_clause_mark(core[-1], lang)


def _sentence_end(text: str, index: int, lang: str) -> int | None:
    """Where the sentence ending at text[index] stops (after its marks and closers), if it ends."""
    if not _is_ender(text[index], lang):
        return None
    end = index + 1
    while end < len(text) and (_is_ender(text[end], lang) or text[end] in CLOSING_PUNCTUATION):
        end += 1
    marks = text[index:end]
    if any(mark in _HARD_ENDERS for mark in marks):
        return end
    if lang in UNSPACED_LANGS and any(mark in "!?" for mark in marks):
        return end
    if end < len(text) and text[end] != " ":
        return None
    if (
        marks[0] == "."
        and not marks.startswith("..")
        and _is_abbreviation(_word_before(text, index))
    ):
        return None
    return None if _next_word_is_lower_case(text, end) else end


def _is_ender(char: str, lang: str) -> bool:
    return (
        char in _HARD_ENDERS or char in _SOFT_ENDERS or (lang == "el" and char in _GREEK_QUESTION)
    )


def _is_clause_mark(char: str, lang: str) -> bool:
    if char in _HARD_CLAUSE_MARKS:
        return True
    if lang == "el":
        return char in _GREEK_ANO_TELEIA or char in ",:"
    return char in _SOFT_CLAUSE_MARKS


def _ends_clause_at(text: str, index: int, lang: str) -> bool:
    char = text[index]
    if char in _HARD_CLAUSE_MARKS or (lang == "el" and char in _GREEK_ANO_TELEIA):
        return True
    # A comma inside "1,000" is not a clause mark; a following space tells them apart.
    followed_by_space = index + 1 == len(text) or text[index + 1] == " "
    return followed_by_space and _is_clause_mark(char, lang)


def _word_before(text: str, index: int) -> str:
    start = index
    while start > 0 and text[start - 1] != " " and text[start - 1] not in _LEADING_PUNCTUATION:
        start -= 1
    return text[start:index]


def _is_abbreviation(word: str) -> bool:
    if not word:
        return False
    if word.lower() in _ABBREVIATIONS:
        return True
    # Latin initials ("J. K. Rowling"); "I." is the pronoun and ends sentences.
    if len(word) == 1 and word.isupper() and word != "I" and word.isascii():
        return True
    # Dotted abbreviations: "e.g", "i.e", "U.S", "z.B", "т.е".
    parts = word.split(".")
    return len(parts) > 1 and all(part.isalpha() and len(part) <= 2 for part in parts)


def _next_word_is_lower_case(text: str, start: int) -> bool:
    for char in text[start:]:
        if char == " " or char in _LEADING_PUNCTUATION:
            continue
        return char.islower()
    return False


def _append_piece(pieces: list[str], piece: str) -> None:
    stripped = piece.strip()
    if stripped and not is_blank(stripped):
        pieces.append(stripped)
