"""Pitch-preserving time stretch of one dub segment to its placed length."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import numpy as np
from av.audio.frame import AudioFrame
from av.filter import Graph

from pipeline.dub.pcm import SAMPLE_RATE_HZ, FloatSamples

# ffmpeg's atempo (WSOLA-style overlap-add) through PyAV's filter graph: it ships inside the
# PyAV wheel, keeps pitch, and takes the 1.0–1.5 range in a single stage, so there is no
# hand-written DSP to maintain. rubberband would sound better but is not available here.
_FRAME_SAMPLES = 4_096
# atempo holds back up to a window of audio and emits nothing for inputs under ~40 ms;
# trailing silence flushes the tail through, and is trimmed off again below.
_FLUSH_PAD_SAMPLES = SAMPLE_RATE_HZ // 10
# Below this the speed-up changes the length by under a few samples even for a long dub.
_UNITY_TOLERANCE = 1e-6


def stretch_to_length(*, samples: FloatSamples, speed: float, length: int) -> FloatSamples:
    """Play `samples` `speed` times faster, pitch kept, then trim/pad to exactly `length`.

    The result may share memory with `samples` (an unchanged, trimmed dub is a view of it):
    copy it before changing it in place.
    """
    pieces = list(stretched_pieces(samples=samples, speed=speed, length=length))
    if len(pieces) == 1:
        return pieces[0]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def stretched_pieces(*, samples: FloatSamples, speed: float, length: int) -> Iterator[FloatSamples]:
    """stretch_to_length's result in consecutive pieces, so a long dub is never held twice."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    if not 1.0 - _UNITY_TOLERANCE <= speed <= 2.0:
        raise ValueError(f"speed must be within 1.0–2.0, got {speed}")
    if length == 0 or samples.size == 0:
        stretched: Iterable[FloatSamples] = ()
    elif abs(speed - 1.0) <= _UNITY_TOLERANCE:
        stretched = (samples,)
    else:
        stretched = _atempo(samples, speed)
    return _fit_length(stretched, length)


def _atempo(samples: FloatSamples, speed: float) -> Iterator[FloatSamples]:
    graph = Graph()
    source = graph.add_abuffer(
        sample_rate=SAMPLE_RATE_HZ,
        format="flt",
        layout="mono",
        time_base=Fraction(1, SAMPLE_RATE_HZ),
    )
    graph.link_nodes(source, graph.add("atempo", f"{speed:.9f}"), graph.add("abuffersink"))
    graph.configure()

    # The flush pad goes in as frames of its own: padding a copy of a minutes-long dub
    # would hold it twice.
    pad = np.zeros(_FLUSH_PAD_SAMPLES, dtype=np.float32)
    for offset, block in _frames(samples, pad):
        frame = AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE_HZ
        frame.time_base = Fraction(1, SAMPLE_RATE_HZ)
        frame.pts = offset
        graph.push(frame)
        yield from _drain(graph)
    graph.push(None)  # end of stream: atempo flushes what it still holds
    yield from _drain(graph)


def _frames(samples: FloatSamples, pad: FloatSamples) -> Iterator[tuple[int, FloatSamples]]:
    # Frames of _FRAME_SAMPLES over samples then pad, as if they were one array.
    total = samples.size + pad.size
    for offset in range(0, total, _FRAME_SAMPLES):
        stop = min(offset + _FRAME_SAMPLES, total)
        if stop <= samples.size:
            block = np.ascontiguousarray(samples[offset:stop])
        elif offset >= samples.size:
            block = pad[offset - samples.size : stop - samples.size]
        else:
            block = np.concatenate([samples[offset:], pad[: stop - samples.size]])
        yield offset, block


def _drain(graph: Graph) -> Iterator[FloatSamples]:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        if not isinstance(frame, AudioFrame):
            raise TypeError(f"atempo graph produced {type(frame).__name__}, expected audio")
        yield np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)


def _fit_length(pieces: Iterable[FloatSamples], length: int) -> Iterator[FloatSamples]:
    # The stretch lands within a few ms of the placement; trimming or padding the tail
    # keeps every segment inside its slot so neighbours never overlap.
    missing = length
    for piece in pieces:
        if missing <= 0:
            break  # the rest is trimmed; atempo is left to be collected unflushed
        if piece.size:
            yield piece[:missing]  # a view: the caller only reads it
            missing -= min(piece.size, missing)
    if missing > 0:
        yield np.zeros(missing, dtype=np.float32)
