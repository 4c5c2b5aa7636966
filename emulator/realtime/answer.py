"""What the model "says" for one utterance: the file emulator's pseudo-translation, dub and
output cap, applied to one stretch of speech, plus a pseudo transcript in the source
language when the session asked for one."""

from __future__ import annotations

import random
from dataclasses import dataclass

from emulator.billing import fit_output, text_tokens
from emulator.config import EmulatorConfig
from emulator.content import SCRIPTS, TEXT_TOKENS_PER_S, sentence, text_pieces
from emulator.dub import pcm_pieces, render_dub
from emulator.realtime.utterances import Utterance
from emulator.realtime.validation import SessionSettings


@dataclass(frozen=True, slots=True)
class UtteranceAnswer:
    text_pieces: tuple[str, ...]
    pcm_pieces: tuple[bytes, ...]
    transcript_pieces: tuple[str, ...]
    truncated: bool

    @property
    def text(self) -> str:
        return "".join(self.text_pieces)

    @property
    def transcript(self) -> str:
        return "".join(self.transcript_pieces)


def _pseudo(lang: str, utterance: Utterance, salt: str) -> str:
    # A string seed hashes the same in every process, so the same session gives the same
    # words on every run.
    ms = round(utterance.span.duration_s * 1000)
    rng = random.Random(f"{salt}:{lang}:{utterance.index}:{ms}")
    tokens = max(1, round(utterance.span.duration_s * TEXT_TOKENS_PER_S))
    return sentence(lang, tokens=tokens, rng=rng)


def compose(
    utterance: Utterance, settings: SessionSettings, config: EmulatorConfig
) -> UtteranceAnswer:
    """The translation, its dub and the transcript, cut at the output cap (the transcript
    first, as the recogniser has already spoken; then text, then audio)."""
    target = settings.target_lang
    transcript = (
        _pseudo(settings.source_lang, utterance, "asr") if settings.transcription_model else ""
    )
    text = _pseudo(target, utterance, "mt")
    dub = render_dub(
        [text] if settings.wants_audio else [],
        target,
        speech_s=utterance.span.duration_s if settings.wants_audio else 0.0,
        factor=config.dub_factor,
        engine=config.voice_engine,
    )
    budget = max(0, config.max_output_tokens - text_tokens(transcript))
    fitted = fit_output(text, dub, budget)
    return UtteranceAnswer(
        text_pieces=tuple(text_pieces(fitted.text, dense=SCRIPTS[target].dense)),
        pcm_pieces=tuple(pcm_pieces(fitted.dub)),
        transcript_pieces=tuple(text_pieces(transcript, dense=SCRIPTS[settings.source_lang].dense)),
        truncated=fitted.truncated,
    )
