"""What the provider can hear, write and speak (seed 000, "サポートされる言語" and "ボイス")."""

from __future__ import annotations

from collections.abc import Sequence

from ltb.errors import RequestRefused
from ltb.outputs import OUTPUTS, engine_refusal
from ltb.states import Engine

LANGUAGES: dict[str, str] = {
    "en": "English",
    "zh": "Chinese",
    "ru": "Russian",
    "fr": "French",
    "de": "German",
    "pt": "Portuguese",
    "es": "Spanish",
    "it": "Italian",
    "id": "Indonesian",
    "ko": "Korean",
    "ja": "Japanese",
    "vi": "Vietnamese",
    "th": "Thai",
    "ar": "Arabic",
    "yue": "Cantonese",
    "hi": "Hindi",
    "el": "Greek",
    "tr": "Turkish",
}

# Targets the provider can also speak; the other seven are text-only.
AUDIO_TARGETS: frozenset[str] = frozenset(
    {"en", "zh", "ru", "fr", "de", "pt", "es", "it", "ko", "ja", "yue"}
)

_CHERRY_LANGS = frozenset({"zh", "en", "fr", "de", "ru", "it", "es", "pt", "ja", "ko"})

VOICES: dict[str, frozenset[str]] = {
    "Cherry": _CHERRY_LANGS,
    "Nofish": _CHERRY_LANGS,
    "Jada": frozenset({"zh"}),
    "Dylan": frozenset({"zh"}),
    "Sunny": frozenset({"zh"}),
    "Peter": frozenset({"zh"}),
    "Eric": frozenset({"zh"}),
    "Kiki": frozenset({"yue"}),
}

# Derived from the output registry; kept here for the modules that check requests.
OUTPUT_KINDS: tuple[str, ...] = tuple(kind.value for kind in OUTPUTS)


def check_language(code: str, *, role: str = "target") -> str:
    """Returns the code if the provider knows it; refuses it otherwise."""
    if code not in LANGUAGES:
        known = " ".join(LANGUAGES)
        raise RequestRefused(
            f"unknown {role} language {code!r}; use one of: {known}", code="unknown_language"
        )
    return code


def default_voice(target_lang: str) -> str:
    """The voice that speaks a target: Kiki for Cantonese, Cherry for the rest."""
    return "Kiki" if target_lang == "yue" else "Cherry"


def check_dub_request(target_lang: str, voice: str | None) -> str:
    """Returns the voice to dub `target_lang` with, or refuses the combination."""
    if target_lang not in AUDIO_TARGETS:
        raise RequestRefused(
            f"a WAV dub is not available for {LANGUAGES[target_lang]} ({target_lang}); "
            f"the provider speaks only {', '.join(sorted(AUDIO_TARGETS))}. "
            "Drop 'wav' from the outputs.",
            code="audio_output_unsupported",
        )
    chosen = voice or default_voice(target_lang)
    if chosen not in VOICES:
        raise RequestRefused(
            f"unknown voice {chosen!r}; choose one of: {', '.join(VOICES)}",
            code="unknown_voice",
        )
    if target_lang not in VOICES[chosen]:
        speakers = [name for name, langs in VOICES.items() if target_lang in langs]
        raise RequestRefused(
            f"voice {chosen} cannot speak {LANGUAGES[target_lang]} ({target_lang}); "
            f"voices that can: {', '.join(speakers)}",
            code="voice_unsupported",
        )
    return chosen


def check_outputs(outputs: Sequence[str], *, engine: Engine = Engine.FILE) -> tuple[str, ...]:
    """Returns the outputs in canonical order, refusing unknown kinds, empty lists and
    kinds `engine` cannot build (the registry's `engines` says which can)."""
    unknown = [kind for kind in outputs if kind not in OUTPUT_KINDS]
    if unknown or not outputs:
        raise RequestRefused(
            f"outputs must be a non-empty subset of {', '.join(OUTPUT_KINDS)}; got {list(outputs)}",
            code="invalid_outputs",
        )
    refusal = engine_refusal(outputs, engine)
    if refusal is not None:
        code, message = refusal
        raise RequestRefused(message, code=code)
    return tuple(kind for kind in OUTPUT_KINDS if kind in outputs)


def check_engine(engine: str, *, source_lang: str | None) -> Engine:
    """The engine a request names, refusing what it cannot run: the realtime engine's
    session is configured with the source language, so it must be named."""
    try:
        chosen = Engine(engine)
    except ValueError:
        raise RequestRefused(
            f"engine must be one of {', '.join(e.value for e in Engine)}; got {engine!r}",
            code="invalid_engine",
        ) from None
    if chosen == Engine.REALTIME and not source_lang:
        raise RequestRefused(
            "the realtime engine needs source_lang: its session transcribes the source "
            "in the language named",
            code="source_lang_required",
        )
    return chosen


def outputs_for(
    target_lang: str, *, engine: Engine = Engine.FILE, by_default: bool = False
) -> tuple[str, ...]:
    """Every output kind `engine` can build for `target_lang`, in canonical order; only
    those made when a request names none, with `by_default`."""
    return tuple(
        kind.value
        for kind, spec in OUTPUTS.items()
        if engine in spec.engines
        and (not spec.spoken or target_lang in AUDIO_TARGETS)
        and (spec.by_default or not by_default)
    )
