"""The provider's dub PCM and the float samples the dub builder works in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# The provider's audio deltas: signed 16-bit little-endian, mono, 24 kHz (docs/provider.md "The stream").
SAMPLE_RATE_HZ = 24_000
_PCM16_SCALE = 32_768.0

FloatSamples = npt.NDArray[np.float32]
Pcm16Samples = npt.NDArray[np.int16]


def samples_from_pcm16(*, pcm: bytes) -> FloatSamples:
    """Decode raw PCM16LE mono bytes into float samples in [-1, 1)."""
    if len(pcm) % 2:
        raise ValueError(f"PCM16 data must have an even byte count, got {len(pcm)}")
    return as_float_samples(samples=np.frombuffer(pcm, dtype="<i2"))


def as_float_samples(*, samples: npt.NDArray[np.generic]) -> FloatSamples:
    """Mono samples as float32: int16 is scaled to [-1, 1), floats are taken as they are."""
    if samples.ndim != 1:
        raise ValueError(f"dub audio must be mono (1-D), got shape {samples.shape}")
    if np.issubdtype(samples.dtype, np.integer):
        if samples.dtype.itemsize != 2:
            raise ValueError(f"integer dub audio must be int16, got {samples.dtype}")
        scaled: FloatSamples = samples.astype(np.float32)
        scaled /= np.float32(_PCM16_SCALE)  # in place: a long dub need not be copied twice
        return scaled
    if np.issubdtype(samples.dtype, np.floating):
        return samples.astype(np.float32, copy=False)
    raise ValueError(f"dub audio must be int16 or float, got {samples.dtype}")


def to_pcm16(*, samples: FloatSamples) -> Pcm16Samples:
    """Float samples to int16, clipping instead of wrapping around at full scale."""
    # Scaling by a power of two is exact in float32, so no wider copy is needed.
    scaled: FloatSamples = np.rint(samples * np.float32(_PCM16_SCALE))
    clipped: FloatSamples = np.clip(scaled, -_PCM16_SCALE, _PCM16_SCALE - 1.0)
    return clipped.astype(np.int16)


@dataclass(frozen=True, slots=True)
class PlacedAudio:
    """A stretch of dub audio and the timeline sample where it starts."""

    start_sample: int
    samples: FloatSamples

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.samples.size
