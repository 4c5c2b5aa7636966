"""The three-letter language codes media containers carry for each language the service knows.

Containers tag tracks with ISO 639-2 codes, not the two-letter ones the API takes. Where
ISO 639-2 has no code for a language (Cantonese), its ISO 639-3 code stands in: both are
three lowercase letters, which is all an MP4 or Matroska language field holds.

For twenty languages ISO 639-2 has two codes. MP4 (ISO/IEC 14496-12, the `mdhd` box) asks
for the terminology code (`fra`, `deu`, `zho`, `ell`); Matroska's Language element asks
for the bibliographic one (`fre`, `ger`, `chi`, `gre`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ltb.languages import LANGUAGES


@dataclass(frozen=True, slots=True)
class LanguageCodes:
    """ISO 639-2 terminology and bibliographic codes (equal for most languages)."""

    terminology: str
    bibliographic: str


UNDETERMINED = "und"

_ISO_639: dict[str, LanguageCodes] = {
    "en": LanguageCodes("eng", "eng"),
    "zh": LanguageCodes("zho", "chi"),
    "ru": LanguageCodes("rus", "rus"),
    "fr": LanguageCodes("fra", "fre"),
    "de": LanguageCodes("deu", "ger"),
    "pt": LanguageCodes("por", "por"),
    "es": LanguageCodes("spa", "spa"),
    "it": LanguageCodes("ita", "ita"),
    "id": LanguageCodes("ind", "ind"),
    "ko": LanguageCodes("kor", "kor"),
    "ja": LanguageCodes("jpn", "jpn"),
    "vi": LanguageCodes("vie", "vie"),
    "th": LanguageCodes("tha", "tha"),
    "ar": LanguageCodes("ara", "ara"),
    # ISO 639-2 has only the macrolanguage `chi`/`zho`; ISO 639-3 names Cantonese itself.
    "yue": LanguageCodes("yue", "yue"),
    "hi": LanguageCodes("hin", "hin"),
    "el": LanguageCodes("ell", "gre"),
    "tr": LanguageCodes("tur", "tur"),
}


def track_language(lang: str | None, *, container: str) -> str:
    """The code to tag a track in `container` ("mp4" or "mkv") with; `und` when unknown."""
    if lang is None:
        return UNDETERMINED
    try:
        codes = _ISO_639[lang]
    except KeyError:
        raise ValueError(f"no ISO 639 code for language {lang!r}") from None
    if container == "mp4":
        return codes.terminology
    if container == "mkv":
        return codes.bibliographic
    raise ValueError(f"unknown container {container!r}; expected mp4 or mkv")


def language_name(lang: str | None) -> str:
    """The language's English name for a track title; "Unknown language" when not known."""
    if lang is None:
        return "Unknown language"
    return LANGUAGES.get(lang, lang)
