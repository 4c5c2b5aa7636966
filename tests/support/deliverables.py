"""Reading a dubbed video and a mix as a player and a loudness meter would: PyAV for the
tracks, pyloudnorm (which shares no code with the service) for the loudness."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import soundfile


@dataclass(frozen=True)
class TrackInfo:
    kind: str
    codec: str
    language: str | None
    title: str | None
    default: bool


def tracks(path: Path) -> list[TrackInfo]:
    """Every track of the file, in order, with its tags."""
    with av.open(str(path)) as container:
        title_key = "title" if path.suffix == ".mkv" else "handler_name"
        return [
            TrackInfo(
                kind=stream.type,
                codec=stream.codec_context.name,
                language=stream.metadata.get("language"),
                title=stream.metadata.get(title_key) if stream.type != "video" else None,
                default=bool(stream.disposition & av.stream.Disposition.default),
            )
            for stream in container.streams
        ]


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return float(container.duration / av.time_base)


def frame_s(path: Path) -> float:
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        assert rate
        return float(1 / Fraction(rate))


def video_packet_sizes(path: Path) -> list[int]:
    """The compressed picture, packet by packet: equal lists mean the video was copied."""
    with av.open(str(path)) as container:
        return [
            packet.size for packet in container.demux(container.streams.video[0]) if packet.size
        ]


def subtitle_events(path: Path, index: int = 0) -> int:
    """How many non-empty events the index-th subtitle track holds."""
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[index]
        count = 0
        for packet in container.demux(stream):
            payload = bytes(packet)
            if stream.codec_context.name == "mov_text" and payload:
                (length,) = struct.unpack(">H", payload[:2])
                payload = payload[2 : 2 + length]
            if packet.pts is not None and payload:
                count += 1
        return count


def top_level_boxes(path: Path) -> list[str]:
    boxes = []
    with path.open("rb") as file:
        while header := file.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                (size,) = struct.unpack(">Q", file.read(8))
                file.seek(size - 16, 1)
            else:
                file.seek(size - 8, 1)
            boxes.append(kind.decode("ascii"))
            if size == 0:
                break
    return boxes


def decoded_audio(path: Path, index: int) -> tuple[np.ndarray, int]:
    """The index-th audio track decoded to float samples (samples, channels) and its rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[index]
        frames = [frame.to_ndarray() for frame in container.decode(stream)]
        rate = stream.codec_context.sample_rate
    planar = np.concatenate(frames, axis=1)
    return planar.T.astype(np.float64), rate


def loudness_lufs(samples: np.ndarray, rate: int) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples))


def wav_loudness_lufs(path: Path) -> tuple[float, int, int]:
    """Integrated loudness, sample rate and channels of a WAV file."""
    samples, rate = soundfile.read(str(path), always_2d=True)
    return loudness_lufs(samples, rate), rate, samples.shape[1]
