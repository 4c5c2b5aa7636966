"""The dub: speech-like audio as long as the source's speech times the dub factor.

The default voice is a synthetic one: a ~180 Hz harmonic tone under a ~4 Hz syllable
envelope, peaking near -6 dBFS. It has the loudness, rhythm and spectrum that the
service's dub assembly (loudness normalisation, time stretching) has to cope with, and it is
identical on every machine. espeak-ng, when asked for and installed, speaks the
pseudo-translation instead and is then stretched to the same length.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import soundfile as sf

from emulator.billing import DUB_RATE_HZ

Pcm16 = npt.NDArray[np.int16]

PITCH_HZ = 180.0
SYLLABLE_HZ = 4.0
PEAK_DBFS = -6.0
HARMONICS = 8
FADE_S = 0.01

# espeak-ng voice names for the 11 languages the provider speaks.
ESPEAK_VOICES = {
    "en": "en",
    "zh": "cmn",
    "yue": "yue",
    "ja": "ja",
    "ko": "ko",
    "ru": "ru",
    "fr": "fr",
    "de": "de",
    "pt": "pt",
    "es": "es",
    "it": "it",
}


def dub_samples(speech_s: float, factor: float) -> int:
    """Samples at 24 kHz for a dub of `speech_s` seconds of speech."""
    return round(speech_s * factor * DUB_RATE_HZ)


def tone_voice(samples: int, *, seed: str = "") -> Pcm16:
    """A speech-like tone of exactly `samples` samples, mono 24 kHz int16."""
    if samples <= 0:
        return np.zeros(0, dtype=np.int16)
    t = np.arange(samples) / DUB_RATE_HZ
    # A slow pitch drift and a seeded phase keep consecutive dubs from sounding identical.
    phase0 = (sum(map(ord, seed)) % 628) / 100.0
    pitch = PITCH_HZ + 15.0 * np.sin(2 * np.pi * 0.5 * t + phase0)
    phase = 2 * np.pi * np.cumsum(pitch) / DUB_RATE_HZ
    voiced = sum(np.sin(k * phase) / k for k in range(1, HARMONICS + 1))
    syllables = 0.15 + 0.85 * np.clip(np.sin(2 * np.pi * SYLLABLE_HZ * t + phase0), 0.0, None)
    signal = voiced * syllables
    fade = min(samples // 2, round(FADE_S * DUB_RATE_HZ))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        signal[:fade] *= ramp
        signal[-fade:] *= ramp[::-1]
    peak = float(np.abs(signal).max()) or 1.0
    scaled = signal / peak * (10 ** (PEAK_DBFS / 20) * 32767)
    return np.round(scaled).astype(np.int16)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_voice(text: str, target_lang: str, samples: int) -> Pcm16:
    """espeak-ng reading `text`, resampled to exactly `samples` samples; falls back to the
    tone when espeak-ng cannot speak the language or fails."""
    voice = ESPEAK_VOICES.get(target_lang)
    executable = shutil.which("espeak-ng")
    if samples <= 0 or voice is None or executable is None or not text.strip():
        return tone_voice(samples, seed=text)
    try:
        done = subprocess.run(  # noqa: S603 (fixed executable, text passed as one argument)
            [executable, "-v", voice, "--stdout", text],
            capture_output=True,
            timeout=60,
            check=True,
        )
        speech, _ = sf.read(io.BytesIO(done.stdout), dtype="float64")
    except (OSError, subprocess.SubprocessError, RuntimeError):
        return tone_voice(samples, seed=text)
    if speech.ndim > 1:
        speech = speech.mean(axis=1)
    if not speech.size:
        return tone_voice(samples, seed=text)
    # Stretching by resampling shifts the pitch; a fake voice can afford that, and the
    # length is what the billing and the service's placement depend on.
    stretched = np.interp(np.linspace(0, speech.size - 1, samples), np.arange(speech.size), speech)
    peak = float(np.abs(stretched).max()) or 1.0
    spoken: Pcm16 = np.round(stretched / peak * (10 ** (PEAK_DBFS / 20) * 32767)).astype(np.int16)
    return spoken


def render_dub(
    sentences: Sequence[str], target_lang: str, *, speech_s: float, factor: float, engine: str
) -> Pcm16:
    """The whole dub for a response."""
    samples = dub_samples(speech_s, factor)
    text = " ".join(sentences)
    if engine == "espeak" and espeak_available():
        return espeak_voice(text, target_lang, samples)
    return tone_voice(samples, seed=text)


def pcm_pieces(dub: Pcm16, *, piece_s: float = 0.5) -> list[bytes]:
    """The dub as the stream delivers it: raw little-endian PCM16 in short pieces."""
    size = round(piece_s * DUB_RATE_HZ)
    raw = dub.astype("<i2", copy=False)
    return [raw[start : start + size].tobytes() for start in range(0, raw.size, size)]
