"""What a request costs, in the provider's units, through the same formulas the planner uses.

Input: audio tokens for the decoded soundtrack, plus video tokens for the sampled frames
(ltb.tokens); input text is always 0, the request carries no prompt.
Output: text tokens from a deterministic counter (below), and audio tokens for the dub.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from emulator.errors import invalid_parameter
from emulator.media import MeasuredInput
from ltb.errors import MediaError
from ltb.tokens import MAX_INPUT_TOKENS, audio_tokens, video_tokens
from ltb.usage import TokenCounts

DUB_RATE_HZ = 24_000

# Text tokens, our own deterministic rule, since the provider's tokenizer is not published:
# - one token per character of a dense script (Han, kana, Hangul, Thai, CJK punctuation and
#   full-width forms), where one character carries about a syllable;
# - one token per 4 characters of everything else (Latin, Cyrillic, Greek, Arabic,
#   Devanagari, digits, spaces, punctuation), the usual rate for alphabetic text.
# Counted over the whole text, so the total never depends on how the stream was split.
_DENSE_RANGES = (
    (0x0E00, 0x0E7F),  # Thai
    (0x1100, 0x11FF),  # Hangul jamo
    (0x3000, 0x303F),  # CJK punctuation
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x3400, 0x4DBF),  # Han extension A
    (0x4E00, 0x9FFF),  # Han
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xFF00, 0xFFEF),  # full-width forms
)
SPARSE_CHARS_PER_TOKEN = 4


def is_dense(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _DENSE_RANGES)


def text_tokens(text: str) -> int:
    """Output text tokens for `text` (see the rule above)."""
    dense = sum(1 for char in text if is_dense(char))
    return dense + math.ceil((len(text) - dense) / SPARSE_CHARS_PER_TOKEN)


def input_counts(media: MeasuredInput) -> TokenCounts:
    """Input tokens of the received media; refuses what the provider cannot count."""
    video = 0
    if media.video is not None:
        v = media.video
        try:
            video = video_tokens(height=v.height, width=v.width, total_frames=v.frames, fps=v.fps)
        except MediaError as exc:
            raise invalid_parameter(f"The video cannot be used: {exc.message}.") from None
    return TokenCounts(input_audio=audio_tokens(media.audio_s), input_video=video)


def check_input_limit(counts: TokenCounts) -> None:
    if counts.input_tokens > MAX_INPUT_TOKENS:
        raise invalid_parameter(
            f"Range of input length should be [1, {MAX_INPUT_TOKENS}]: this input is "
            f"{counts.input_tokens:,} tokens ({counts.input_audio:,} audio, "
            f"{counts.input_video:,} video). Send a shorter clip.",
        )


def output_counts(text: str, dub_samples: int) -> TokenCounts:
    """Output tokens for the text and dub actually produced (or sent, for a broken stream)."""
    audio = audio_tokens(dub_samples / DUB_RATE_HZ) if dub_samples else 0
    return TokenCounts(output_text=text_tokens(text), output_audio=audio)


@dataclass(frozen=True, slots=True)
class FittedOutput:
    text: str
    dub: npt.NDArray[np.int16]
    truncated: bool


def fit_output(text: str, dub: npt.NDArray[np.int16], budget: int) -> FittedOutput:
    """Cuts the output at `budget` tokens, text first and then audio, as the model stops
    generating when it reaches its output limit."""
    kept = _text_prefix(text, budget)
    remaining = budget - text_tokens(kept)
    if dub.size and remaining >= audio_tokens(0.0):
        # The longest dub whose ceil(12.5 x seconds) still fits.
        samples = min(dub.size, math.floor(remaining / 12.5 * DUB_RATE_HZ))
        while samples and audio_tokens(samples / DUB_RATE_HZ) > remaining:
            samples -= 1
        kept_dub = dub[:samples]
    else:
        kept_dub = dub[:0]
    truncated = len(kept) < len(text) or kept_dub.size < dub.size
    return FittedOutput(text=kept, dub=kept_dub, truncated=truncated)


def _text_prefix(text: str, budget: int) -> str:
    dense = sparse = 0
    for index, char in enumerate(text):
        if is_dense(char):
            dense += 1
        else:
            sparse += 1
        if dense + math.ceil(sparse / SPARSE_CHARS_PER_TOKEN) > budget:
            return text[:index]
    return text
