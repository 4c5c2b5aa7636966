"""Where text breaks: between the two lines of a cue, and between one cue and the next.

Each possible break gets a penalty (lower is better): punctuation before it and a conjunction
or preposition after it lower it; a determiner before it, or a word split in two, raise it.
Balance is weighed against that, so a comma near the middle beats the exact middle.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from itertools import accumulate

from pipeline.subtitles.function_words import function_words
from pipeline.subtitles.rules import LanguageRules, line_length
from pipeline.subtitles.sentences import ends_clause, ends_sentence
from pipeline.subtitles.tokens import OPENING_PUNCTUATION, Token, join_tokens

# A break at or above this is one the style guide forbids: taken only when nothing else fits.
FORBIDDEN = 10.0
_AFTER_SENTENCE = -3.0
_AFTER_CLAUSE = -2.0
_BEFORE_CONJUNCTION = -1.5
_BEFORE_PREPOSITION = -1.0
_AFTER_PREPOSITION = 3.0
_AFTER_CONJUNCTION = 1.0
_BEFORE_POSTPOSITION = 5.0
_INSIDE_WORD = 6.0
_INSIDE_NOUN_PHRASE = 1.0
# Japanese has no spaces; the change of script approximates a phrase (bunsetsu) boundary:
# kanji or katakana followed by hiragana is a stem and its ending or particle, which stay
# together, while hiragana followed by kanji usually starts a new phrase.
_JA_AFTER_PARTICLE = -0.5
_JA_PARTICLES = frozenset("はがをにでともへやのて")
_JA_PENALTIES: dict[tuple[str, str], float] = {
    ("kanji", "hiragana"): 2.0,
    ("katakana", "hiragana"): 2.0,
    ("hiragana", "kanji"): -1.0,
    ("hiragana", "katakana"): -1.0,
    ("hiragana", "hiragana"): 0.5,
    ("kanji", "kanji"): 1.0,
    ("katakana", "katakana"): 2.0,
}
# Weight of imbalance (0 for equal halves, 1 for everything on one side) against the above.
_BALANCE_WEIGHT = 4.0
# Between cues, punctuation matters more and balance less than between two lines of one cue.
_CUE_BALANCE_WEIGHT = 3.0
# A top-heavy pair of lines reads worse than a bottom-heavy one (the "pyramid").
_TOP_HEAVY_WEIGHT = 0.5


def break_penalty(tokens: Sequence[Token], cut: int, *, lang: str) -> float:
    """How bad a break before tokens[cut] is, by language and punctuation."""
    before, after = tokens[cut - 1], tokens[cut]
    # Punctuation standing alone (French " ?", "« ») stays on the line of the word it marks.
    if _is_lone_punctuation(after.text, opening=False) or _is_lone_punctuation(
        before.text, opening=True
    ):
        return 2 * FORBIDDEN
    penalty = _INSIDE_WORD if after.glued else 0.0
    if ends_sentence(before.text, lang=lang):
        return penalty + _AFTER_SENTENCE
    if ends_clause(before.text, lang=lang):
        return penalty + _AFTER_CLAUSE
    if after.glued:
        return penalty
    if lang == "ja":
        return penalty + _japanese_penalty(before.text[-1], after.text[0])
    words = function_words(lang)
    previous, following = _bare_word(before.text), _bare_word(after.text)
    if previous in words.determiners:
        penalty += FORBIDDEN
    elif previous in words.prepositions:
        penalty += _AFTER_PREPOSITION
    elif previous in words.conjunctions:
        penalty += _AFTER_CONJUNCTION
    elif cut >= 2 and _bare_word(tokens[cut - 2].text) in words.determiners:
        # "a small | bakery": the word after a determiner is often an adjective of the noun.
        penalty += _INSIDE_NOUN_PHRASE
    if following in words.postpositions:
        penalty += _BEFORE_POSTPOSITION
    elif following in words.conjunctions:
        penalty += _BEFORE_CONJUNCTION
    elif following in words.prepositions:
        penalty += _BEFORE_PREPOSITION
    return penalty


def layout_lines(tokens: Sequence[Token], *, rules: LanguageRules) -> tuple[str, ...] | None:
    """One line if the text fits, else the best two; None when two lines need a forbidden break."""
    if not tokens:
        return None
    whole = join_tokens(tokens)
    if line_length(whole) <= rules.max_chars_per_line:
        return (whole,)
    best: tuple[float, int] | None = None
    for cut, first_len, second_len in _two_line_cuts(tokens):
        if first_len > rules.max_chars_per_line or second_len > rules.max_chars_per_line:
            continue
        penalty = break_penalty(tokens, cut, lang=rules.lang)
        penalty += _line_balance_penalty(first_len, second_len)
        if best is None or penalty < best[0]:
            best = (penalty, cut)
    if best is None or best[0] >= FORBIDDEN:
        return None
    return (join_tokens(tokens[: best[1]]), join_tokens(tokens[best[1] :]))


def forced_lines(tokens: Sequence[Token]) -> tuple[str, ...]:
    """Two lines split near the middle whatever their length: the last resort for valid output."""
    if len(tokens) < 2:
        return (join_tokens(tokens),)
    cut, _, _ = min(_two_line_cuts(tokens), key=lambda entry: abs(entry[1] - entry[2]))
    return (join_tokens(tokens[:cut]), join_tokens(tokens[cut:]))


def choose_cue_cut(
    tokens: Sequence[Token], offsets: Sequence[float], *, target: float, lang: str
) -> int:
    """The index to split tokens into two cues at, near the `target` offset and at good breaks."""
    span = max(offsets[-1] - offsets[0], 1e-9)
    return min(
        range(1, len(tokens)),
        key=lambda cut: (
            break_penalty(tokens, cut, lang=lang)
            + _CUE_BALANCE_WEIGHT * abs(offsets[cut] - target) / span
        ),
    )


def _two_line_cuts(tokens: Sequence[Token]) -> list[tuple[int, int, int]]:
    """Each possible break with the lengths of the two lines it makes."""
    lengths = [
        line_length(token.text) + (1 if index and token.spaced else 0)
        for index, token in enumerate(tokens)
    ]
    prefix = list(accumulate(lengths, initial=0))
    total = prefix[-1]
    cuts: list[tuple[int, int, int]] = []
    for cut in range(1, len(tokens)):
        # The space before the token that starts line 2 becomes the line break.
        second = total - prefix[cut] - (1 if tokens[cut].spaced else 0)
        cuts.append((cut, prefix[cut], second))
    return cuts


def _line_balance_penalty(first_len: int, second_len: int) -> float:
    imbalance = (first_len - second_len) / max(first_len + second_len, 1)
    return _BALANCE_WEIGHT * abs(imbalance) + _TOP_HEAVY_WEIGHT * max(imbalance, 0.0)


def _is_lone_punctuation(text: str, *, opening: bool) -> bool:
    if not all(unicodedata.category(char)[0] == "P" for char in text):
        return False
    opens = any(
        char in OPENING_PUNCTUATION or unicodedata.category(char) in ("Ps", "Pi") for char in text
    )
    return opens == opening


def _japanese_penalty(last: str, first: str) -> float:
    scripts = (_japanese_script(last), _japanese_script(first))
    if scripts == ("hiragana", "hiragana") and last in _JA_PARTICLES:
        return _JA_AFTER_PARTICLE
    return _JA_PENALTIES.get(scripts, 0.0)


def _japanese_script(char: str) -> str:
    if "\u3040" <= char <= "\u309f":
        return "hiragana"
    if "\u30a0" <= char <= "\u30ff" or "\uff66" <= char <= "\uff9f":
        return "katakana"
    if "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or char in "々〆":
        return "kanji"
    return "other"


def _bare_word(text: str) -> str:
    start, end = 0, len(text)
    while start < end and unicodedata.category(text[start])[0] == "P":
        start += 1
    while end > start and unicodedata.category(text[end - 1])[0] == "P":
        end -= 1
    return text[start:end].lower()
