"""The pseudo-translation: deterministic, fake, in the target language's script.

One sentence per speech region, about TEXT_TOKENS_PER_S text tokens per second of that
region (the figure the planner assumes), built from syllables of the target's script.
It carries nothing from the source but the regions' lengths, and never a timestamp, so
the service cannot lean on the emulator for timing it must compute itself.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from emulator.billing import text_tokens
from ltb.timeline import Span

TEXT_TOKENS_PER_S = 4.0


@dataclass(frozen=True, slots=True)
class Script:
    onsets: tuple[str, ...]
    nuclei: tuple[str, ...]
    # Syllables per word; 0 means the script writes no spaces between words (zh, yue, ja).
    max_word_syllables: int
    stop: str  # sentence-final punctuation ("" for Thai, which separates by spaces)
    dense: bool  # one token per character (see billing.text_tokens)


def _latin(extra_vowels: str = "", extra_onsets: tuple[str, ...] = ()) -> Script:
    onsets = ("b", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "k", *extra_onsets)
    return Script(onsets, tuple("aeiou" + extra_vowels), 3, ".", False)


_HAN = tuple("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动")
_KANA_ONSETS = tuple("かきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもらりるれろ")
_THAI_ONSETS = tuple("กขคงจชดตทนบปพมยรลวสห")
_THAI_NUCLEI = ("า", "ี", "ู", "ะ", "ิ", "ุ", "อ", "ำ")

SCRIPTS: dict[str, Script] = {
    "en": _latin(),
    "fr": _latin("éè", ("ch", "qu")),
    "de": _latin("äöü", ("sch", "z")),
    "pt": _latin("ãõ", ("ç", "lh")),
    "es": _latin("áó", ("ñ", "ll")),
    "it": _latin("", ("gl", "z")),
    "id": _latin("", ("ng", "ny")),
    "vi": _latin("ăơư", ("ng", "đ")),
    "tr": _latin("ıöü", ("ş", "ğ", "ç")),
    "ru": Script(tuple("бвгдзклмнпрстч"), tuple("аеиоуыя"), 3, ".", False),
    "el": Script(tuple("βγδθκλμνπρστφχ"), tuple("αεηιουω"), 3, ".", False),
    "ar": Script(tuple("بتجدرسعفقلمنهو"), ("ا", "ي", "و", ""), 3, ".", False),
    "hi": Script(tuple("कखगजतदनपबमरलवस"), ("ा", "ि", "ी", "ु", "े", "ो", ""), 3, "।", False),
    "zh": Script(_HAN, ("",), 0, "。", True),
    "yue": Script(_HAN + tuple("嘅咗啲冇佢哋"), ("",), 0, "。", True),
    "ja": Script(_KANA_ONSETS + _HAN[:12], ("",), 0, "。", True),
    "ko": Script(tuple("가나다라마바사아자하"), ("", "는", "고", "서"), 2, ".", True),
    "th": Script(_THAI_ONSETS, _THAI_NUCLEI, 3, "", True),
}

# Scripts written without spaces between words; Thai still spaces its sentences.
_NO_WORD_SPACES = frozenset({"zh", "yue", "ja", "th"})
_NO_SENTENCE_SPACES = frozenset({"zh", "yue", "ja"})


def sentence(target_lang: str, *, tokens: int, rng: random.Random) -> str:
    """One pseudo sentence of about `tokens` text tokens."""
    script = SCRIPTS[target_lang]
    words: list[str] = []
    text = ""
    while not words or text_tokens(text + script.stop) < tokens:
        size = 1 if script.max_word_syllables == 0 else rng.randint(1, script.max_word_syllables)
        words.append(
            "".join(rng.choice(script.onsets) + rng.choice(script.nuclei) for _ in range(size))
        )
        text = ("" if target_lang in _NO_WORD_SPACES else " ").join(words)
    if not script.dense:
        text = text[0].upper() + text[1:]
    return text + script.stop


def pseudo_translation(target_lang: str, regions: Sequence[Span]) -> list[str]:
    """One sentence per region, each as long as the region warrants; the same input always
    gives the same text."""
    sentences = []
    for index, region in enumerate(regions):
        # A string seed hashes the same in every process (unlike hash()), so runs agree.
        rng = random.Random(f"{target_lang}:{index}:{round(region.duration_s * 1000)}")
        tokens = max(1, round(region.duration_s * TEXT_TOKENS_PER_S))
        sentences.append(sentence(target_lang, tokens=tokens, rng=rng))
    return sentences


def joined(target_lang: str, sentences: Sequence[str]) -> str:
    """The full text: CJK sentences follow each other directly; others are spaced."""
    return ("" if target_lang in _NO_SENTENCE_SPACES else " ").join(sentences)


def text_pieces(text: str, *, dense: bool) -> list[str]:
    """The text as the stream delivers it: several short deltas, never splitting a character."""
    size = 6 if dense else 24
    return [text[start : start + size] for start in range(0, len(text), size)]
