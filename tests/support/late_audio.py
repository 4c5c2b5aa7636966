"""A small video whose soundtrack starts after its picture, as some broadcast sources do."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE_HZ = 16_000


def write_late_audio_video(
    path: Path, *, audio_starts_s: float, tone_hz: float, seconds: float = 2.0
) -> Path:
    """Matroska: 64x48 MPEG-4 video at 25 fps from 0 s, a PCM tone from `audio_starts_s`
    to `audio_starts_s` + 1 s."""
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=RATE_HZ)
        audio.codec_context.layout = "mono"
        for index in range(round(seconds * 25)):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64), index * 4 % 256, dtype=np.uint8), format="gray"
            ).reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, 25)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        t = np.arange(RATE_HZ) / RATE_HZ
        tone = (8000 * np.sin(2 * np.pi * tone_hz * t)).astype(np.int16)
        sound = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        sound.sample_rate = RATE_HZ
        sound.pts = round(audio_starts_s * RATE_HZ)
        sound.time_base = Fraction(1, RATE_HZ)
        for packet in audio.encode(sound):
            out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return path
