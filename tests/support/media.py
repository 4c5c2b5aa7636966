"""Test media, generated: speech clips (espeak-ng recordings committed under
tests/fixtures/speech) laid out on a timeline with known pauses, and videos of any
geometry and frame rate, encoded with PyAV."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np
import soundfile as sf

SPEECH_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
RATE_HZ = 16_000


@dataclass(frozen=True)
class Utterance:
    file: str
    lang: str
    text: str
    duration_s: float


@cache
def utterances() -> tuple[Utterance, ...]:
    raw = json.loads((SPEECH_DIR / "index.json").read_text(encoding="utf-8"))
    return tuple(Utterance(**item) for item in raw)


def utterance(file: str) -> Utterance:
    return next(u for u in utterances() if u.file == file)


@cache
def _clip(file: str) -> np.ndarray:
    samples, rate = sf.read(SPEECH_DIR / file, dtype="int16")
    assert rate == RATE_HZ
    return samples


@dataclass(frozen=True)
class Timeline:
    """Mono 16 kHz samples and where the speech in them is."""

    samples: np.ndarray
    speech: tuple[tuple[float, float], ...]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / RATE_HZ


def speech_timeline(
    layout: Sequence[float | str], *, noise_dbfs: float | None = None, seed: int = 0
) -> Timeline:
    """Lays out silences (numbers, in seconds) and utterances (fixture names) in order."""
    parts: list[np.ndarray] = []
    speech: list[tuple[float, float]] = []
    t = 0
    for item in layout:
        if isinstance(item, str):
            clip = _clip(item)
            speech.append((t / RATE_HZ, (t + len(clip)) / RATE_HZ))
        else:
            clip = np.zeros(round(item * RATE_HZ), dtype=np.int16)
        parts.append(clip)
        t += len(clip)
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    if noise_dbfs is not None:
        rng = np.random.default_rng(seed)
        noise = rng.normal(0.0, 32768 * 10 ** (noise_dbfs / 20), len(samples))
        samples = np.clip(samples + noise, -32768, 32767).astype(np.int16)
    return Timeline(samples=samples, speech=tuple(speech))


def write_audio(path: Path, timeline: Timeline | np.ndarray, *, rate_hz: int = RATE_HZ) -> Path:
    """Writes int16 mono samples; the container follows the suffix (.wav, .flac, .mp3, .m4a, .ogg)."""
    samples = timeline.samples if isinstance(timeline, Timeline) else timeline
    if path.suffix in (".wav", ".flac"):
        sf.write(path, samples, rate_hz, subtype="PCM_16")
        return path
    codec = {".mp3": "libmp3lame", ".m4a": "aac", ".ogg": "libopus", ".opus": "libopus"}[
        path.suffix
    ]
    out_rate = 48_000 if codec == "libopus" else rate_hz
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=out_rate, layout="mono")
        _encode_audio(container, stream, samples, rate_hz)
    return path


def write_video(
    path: Path,
    *,
    width: int,
    height: int,
    fps: float | Fraction,
    seconds: float,
    audio: Timeline | np.ndarray | None = None,
    codec: str = "libx264",
) -> Path:
    """Writes a video of moving bars (so it compresses but is not static) with an optional soundtrack."""
    rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
    frames = round(seconds * rate)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "crf": "35"}
        audio_stream = (
            container.add_stream("aac", rate=RATE_HZ, layout="mono") if audio is not None else None
        )
        x = np.arange(width, dtype=np.int32)
        for index in range(frames):
            row = ((x + index * 4) % 256).astype(np.uint8)
            image = np.broadcast_to(row, (height, width))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="gray")
            frame = frame.reformat(format="yuv420p")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio_stream is not None and audio is not None:
            samples = audio.samples if isinstance(audio, Timeline) else audio
            _encode_audio(container, audio_stream, samples, RATE_HZ)
    return path


def _encode_audio(
    container: av.container.OutputContainer,
    stream: av.stream.Stream,
    samples: np.ndarray,
    rate_hz: int,
) -> None:
    resampler = av.AudioResampler(
        format=stream.codec_context.format, layout="mono", rate=stream.codec_context.sample_rate
    )
    block = 4096
    pts = 0
    for start in range(0, len(samples), block):
        piece = samples[start : start + block].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="s16", layout="mono")
        frame.sample_rate = rate_hz
        frame.pts = pts
        frame.time_base = Fraction(1, rate_hz)
        pts += piece.shape[1]
        for out in resampler.resample(frame):
            for packet in stream.encode(out):
                container.mux(packet)
    for out in resampler.resample(None):
        for packet in stream.encode(out):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
