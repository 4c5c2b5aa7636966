"""Decoding a source's soundtrack to 16 kHz mono, block by block, so memory stays flat
whatever the length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import av.audio.resampler
import numpy as np
import numpy.typing as npt

from ltb.errors import MediaError
from ltb.media.containers import DecodeDeadline, open_media

ANALYSIS_RATE_HZ = 16_000

Pcm16 = npt.NDArray[np.int16]


class SoundtrackDecode:
    """Iterates a file's first audio stream as int16 mono blocks at 16 kHz.

    After iteration, `duration_s` is the exact length measured from decoded samples, and
    `warnings` says whether the stream ended early on corrupt data.
    """

    def __init__(self, path: Path, *, timeout_s: float = 1800.0, name: str | None = None) -> None:
        self._path = path
        # How messages call the source (see `open_media`).
        self._name = name or path.name
        self._timeout_s = timeout_s
        self.source_samples = 0
        self.source_rate_hz = 0
        self.output_samples = 0
        self.warnings: list[str] = []

    @property
    def duration_s(self) -> float:
        if self.source_rate_hz:
            return self.source_samples / self.source_rate_hz
        return self.output_samples / ANALYSIS_RATE_HZ

    def __iter__(self) -> Iterator[Pcm16]:
        deadline = DecodeDeadline(self._timeout_s, what=f"the audio of {self._name}")
        resampler = av.audio.resampler.AudioResampler(
            format="s16", layout="mono", rate=ANALYSIS_RATE_HZ
        )
        with open_media(self._path, name=self._name) as container:
            if not container.streams.audio:
                raise MediaError(f"{self._name} has no audio stream", code="no_audio_stream")
            stream = container.streams.audio[0]
            # Decoders hand out frames of a few hundred samples; resampling and analysing
            # each one alone cost more than the work itself. A FIFO regroups them into
            # blocks of about a second.
            fifo = av.AudioFifo()
            try:
                for frame in container.decode(stream):
                    deadline.check()
                    self.source_samples += frame.samples
                    self.source_rate_hz = frame.sample_rate
                    frame.pts = None  # timing is counted in samples; the FIFO need not check it
                    fifo.write(frame)
                    while fifo.samples >= frame.sample_rate:
                        yield from self._resampled(resampler, fifo.read(frame.sample_rate))
            except av.error.FFmpegError as exc:
                if self.source_samples == 0:
                    raise MediaError(
                        f"the audio of {self._name} cannot be decoded ({exc.strerror})",
                        code="unsupported_media",
                    ) from exc
                self.warnings.append(
                    f"audio_truncated: the audio stream is corrupt after {self.duration_s:.2f} s; "
                    "only the part before it is used"
                )
            rest = fifo.read()
            if rest is not None:
                yield from self._resampled(resampler, rest)
            yield from self._resampled(resampler, None)
        if self.source_samples == 0:
            raise MediaError(f"the audio stream of {self._name} is empty", code="no_audio_stream")

    def _resampled(
        self, resampler: av.audio.resampler.AudioResampler, frame: av.AudioFrame | None
    ) -> Iterator[Pcm16]:
        for out in resampler.resample(frame):
            block: Pcm16 = out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
            self.output_samples += block.size
            yield block
