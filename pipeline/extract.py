"""extract: one chunk's media, encoded compactly and measured exactly.

Audio chunks become 16 kHz mono MP3. Visual-context chunks become an MP4 whose frames
are already at the provider's sampled rate and size (see pipeline/payload.py). After
encoding, the payload is measured the way the provider measures it, so the tokens
recorded before the call are the tokens the provider will bill.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.audio.resampler
import av.container
import av.stream
import numpy as np

from ltb import tokens
from ltb.errors import MediaError
from ltb.media.audio import Pcm16, SoundtrackDecode
from ltb.media.containers import DecodeDeadline, open_media
from ltb.media.probe import probe
from ltb.timeline import Span
from pipeline.payload import (
    AUDIO_BITRATE_BPS,
    AUDIO_MIME,
    AUDIO_RATE_HZ,
    DATA_URI_LIMIT_CHARS,
    VIDEO_AUDIO_BITRATE_BPS,
    VIDEO_MIME,
    VideoPayload,
    data_uri_chars,
)

# x264 quality ladder: the first rung is "modest"; later rungs are used only when a
# payload would not fit in a data URI.
VIDEO_CRF_LADDER = (30, 36, 42)
AUDIO_BITRATE_LADDER = (AUDIO_BITRATE_BPS, 24_000, 16_000)
# Seek this far before a chunk: demuxers land on the packet at or before the target only
# approximately, and the surplus is trimmed by timestamp.
SEEK_LEAD_S = 1.0
BLOCK_SAMPLES = 4096


@dataclass(frozen=True, slots=True)
class ChunkPayload:
    path: Path
    kind: Literal["audio", "video"]
    mime: str
    duration_s: float
    audio_tokens: int
    video_tokens: int
    chars: int

    @property
    def input_tokens(self) -> int:
        return self.audio_tokens + self.video_tokens

    @property
    def fits_inline(self) -> bool:
        return self.chars <= DATA_URI_LIMIT_CHARS

    def data_uri(self) -> str:
        encoded = base64.b64encode(self.path.read_bytes()).decode("ascii")
        return f"data:{self.mime};base64,{encoded}"


def extract_chunk(
    source: Path,
    span: Span,
    out_dir: Path,
    *,
    video: VideoPayload | None = None,
    inline_required: bool = True,
    timeout_s: float = 600.0,
    name: str | None = None,
) -> ChunkPayload:
    """Encodes [span) of `source` as a payload in `out_dir`; smaller rungs if it must fit inline.
    Refusals call the source `name`: as the user gave it (see `open_media`)."""
    label = name or source.name
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"chunk-{span.start_s:011.3f}-{span.end_s:011.3f}"
    if video is None:
        for bitrate in AUDIO_BITRATE_LADDER:
            path = out_dir / f"{stem}.mp3"
            _write_audio_payload(
                source, span, path, bitrate_bps=bitrate, timeout_s=timeout_s, label=label
            )
            payload = _measure(path, kind="audio", mime=AUDIO_MIME)
            if payload.fits_inline or not inline_required:
                return payload
    else:
        for crf in VIDEO_CRF_LADDER:
            path = out_dir / f"{stem}.mp4"
            _write_video_payload(
                source, span, path, video=video, crf=crf, timeout_s=timeout_s, label=label
            )
            payload = _measure(path, kind="video", mime=VIDEO_MIME)
            if payload.fits_inline or not inline_required:
                return payload
    raise MediaError(
        f"the chunk {span.start_s:.1f}-{span.end_s:.1f} s does not fit in a data URI even at "
        "the lowest quality; set LTB_PAYLOAD_DELIVERY=url so it goes by URL",
        code="payload_too_large",
    )


def _measure(path: Path, *, kind: Literal["audio", "video"], mime: str) -> ChunkPayload:
    decode = SoundtrackDecode(path)
    for _ in decode:
        pass
    video_tokens = 0
    if kind == "video":
        props = probe(path).video
        if props is None:
            raise MediaError("the encoded video payload has no video stream", code="internal_error")
        video_tokens = tokens.video_tokens(
            height=props.height, width=props.width, total_frames=props.frames, fps=props.fps
        )
    return ChunkPayload(
        path=path,
        kind=kind,
        mime=mime,
        duration_s=decode.duration_s,
        audio_tokens=tokens.audio_tokens(decode.duration_s),
        video_tokens=video_tokens,
        chars=data_uri_chars(path.stat().st_size, mime),
    )


def _write_audio_payload(
    source: Path, span: Span, out: Path, *, bitrate_bps: int, timeout_s: float, label: str
) -> None:
    with av.open(str(out), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=AUDIO_RATE_HZ, layout="mono")
        stream.bit_rate = bitrate_bps
        _encode_pcm(container, stream, _span_pcm(source, span, timeout_s=timeout_s, label=label))


def _write_video_payload(
    source: Path,
    span: Span,
    out: Path,
    *,
    video: VideoPayload,
    crf: int,
    timeout_s: float,
    label: str,
) -> None:
    rate = Fraction(video.fps).limit_denominator(1000)
    with av.open(str(out), "w", format="mp4") as container:
        vstream = container.add_stream("libx264", rate=rate)
        vstream.width, vstream.height = video.width, video.height
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"crf": str(crf), "preset": "veryfast"}
        astream = container.add_stream("aac", rate=AUDIO_RATE_HZ, layout="mono")
        astream.bit_rate = VIDEO_AUDIO_BITRATE_BPS
        frames = _sampled_frames(source, span, rate, video.frames, timeout_s, label)
        for index, image in enumerate(frames):
            frame = image.reformat(width=video.width, height=video.height, format="yuv420p")
            frame.pts = index
            frame.time_base = 1 / rate
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        _encode_pcm(container, astream, _span_pcm(source, span, timeout_s=timeout_s, label=label))


def _encode_pcm(
    container: av.container.OutputContainer, stream: av.AudioStream, blocks: Iterator[Pcm16]
) -> None:
    codec = stream.codec_context
    resampler = av.audio.resampler.AudioResampler(
        format=codec.format, layout="mono", rate=codec.sample_rate
    )
    pts = 0
    for block in blocks:
        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE_HZ
        frame.pts = pts
        frame.time_base = Fraction(1, AUDIO_RATE_HZ)
        pts += block.size
        for out in resampler.resample(frame):
            for packet in stream.encode(out):
                container.mux(packet)
    for out in resampler.resample(None):
        for packet in stream.encode(out):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def _span_pcm(source: Path, span: Span, *, timeout_s: float, label: str) -> Iterator[Pcm16]:
    """The 16 kHz mono samples of [span), trimmed by timestamp; silence if the audio ends early."""
    deadline = DecodeDeadline(timeout_s, what=f"the audio of {label}")
    resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE_HZ)
    first = round(span.start_s * AUDIO_RATE_HZ)
    wanted = round(span.duration_s * AUDIO_RATE_HZ)
    produced = 0
    with open_media(source, name=label) as container:
        stream = container.streams.audio[0]
        clock: int | None = None  # sample index (at 16 kHz) of the next resampled sample
        _seek(container, stream, span.start_s)
        for frame in container.decode(stream):
            deadline.check()
            if clock is None:
                clock = round(
                    (_frame_time_s(frame) - _start_offset_s(container, stream)) * AUDIO_RATE_HZ
                )
            for out in resampler.resample(frame):
                samples: Pcm16 = out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
                lo = max(0, first + produced - clock)
                piece = samples[lo : lo + wanted - produced]
                clock += samples.size
                if piece.size:
                    produced += piece.size
                    yield piece
            if produced >= wanted:
                return
    while produced < wanted:
        pad = min(BLOCK_SAMPLES, wanted - produced)
        produced += pad
        yield np.zeros(pad, dtype=np.int16)


def _sampled_frames(
    source: Path, span: Span, rate: Fraction, count: int, timeout_s: float, label: str
) -> Iterator[av.VideoFrame]:
    """One source frame per output tick: the last frame shown at or before each tick."""
    deadline = DecodeDeadline(timeout_s, what=f"the video of {label}")
    ticks = [span.start_s + index / float(rate) for index in range(count)]
    emitted = 0
    previous: av.VideoFrame | None = None
    with open_media(source, name=label) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        _seek(container, stream, span.start_s)
        offset = _start_offset_s(container, stream)
        for frame in container.decode(stream):
            deadline.check()
            shown_s = _frame_time_s(frame) - offset
            while emitted < count and shown_s > ticks[emitted] + 1e-6:
                yield previous if previous is not None else frame
                emitted += 1
            if emitted >= count:
                return
            previous = frame
    while emitted < count and previous is not None:
        yield previous
        emitted += 1


def _frame_time_s(frame: av.AudioFrame | av.VideoFrame) -> float:
    if frame.pts is None or frame.time_base is None:
        return 0.0
    return float(frame.pts * frame.time_base)


def _start_offset_s(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    # Timestamps on the container's clock; the timeline starts at the container's start.
    return (container.start_time or 0) / av.time_base


def _seek(container: av.container.InputContainer, stream: av.stream.Stream, start_s: float) -> None:
    target_s = start_s - SEEK_LEAD_S
    if target_s <= 0 or stream.time_base is None:
        return
    offset = int((target_s + _start_offset_s(container, stream)) / stream.time_base)
    container.seek(offset, stream=stream, backward=True, any_frame=False)
