"""Where the placed dub segments wait between the loudness measurement and the write.

Levelling needs the whole dub measured before the first sample is written, so every
segment is read more than once. In memory that costs the whole stretched dub (5.8 MB per
dubbed minute as float32, plus copies); spilled, it costs one segment at a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np

from pipeline.dub.pcm import FloatSamples, PlacedAudio
from pipeline.dub.true_peak import GUARD_SAMPLES, edge_context, guard_context


class PlacedSegments(Protocol):
    """Dub segments in timeline order without overlaps, handed out one at a time."""

    def __len__(self) -> int: ...

    def bounds(self, index: int) -> tuple[int, int]:
        """The timeline samples segment `index` starts at and ends before."""
        ...

    def placed(self, index: int) -> PlacedAudio:
        """Segment `index` with its audio."""
        ...

    def gained(self, index: int, gain: np.float32) -> PlacedAudio:
        """Segment `index` with its audio multiplied by `gain`."""
        ...

    def context(self, index: int) -> tuple[FloatSamples, FloatSamples]:
        """The timeline just around segment `index`, as guard_context gives it."""
        ...


class InMemorySegments:
    """Segments that are already in memory, as PlacedSegments."""

    def __init__(self, segments: Sequence[PlacedAudio]) -> None:
        self._segments = segments

    def __len__(self) -> int:
        return len(self._segments)

    def bounds(self, index: int) -> tuple[int, int]:
        segment = self._segments[index]
        return segment.start_sample, segment.end_sample

    def placed(self, index: int) -> PlacedAudio:
        return self._segments[index]

    def gained(self, index: int, gain: np.float32) -> PlacedAudio:
        segment = self._segments[index]
        return PlacedAudio(start_sample=segment.start_sample, samples=segment.samples * gain)

    def context(self, index: int) -> tuple[FloatSamples, FloatSamples]:
        return guard_context(segments=self._segments, index=index)


class SpilledSegments:
    """Segments parked as float32 in an unnamed temporary file, read back one at a time.

    Only each segment's position and its GUARD_SAMPLES edges stay in memory, which is all
    the true-peak context of its neighbours needs. The file has no name, so it vanishes
    when closed or when the process dies, and float32 keeps the audio bit-exact.
    """

    def __init__(self, *, directory: Path) -> None:
        # Held open across both passes and closed by close() or the with-block.
        self._file = tempfile.TemporaryFile(prefix="dub-spill-", dir=directory)  # noqa: SIM115
        self._offsets: list[int] = []  # where each segment starts in the file, in bytes
        # The first and last GUARD_SAMPLES of each segment: what its neighbours' peaks see.
        self._heads: list[PlacedAudio] = []
        self._tails: list[PlacedAudio] = []
        self._written = 0

    def __enter__(self) -> SpilledSegments:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def add(self, *, start_sample: int, pieces: Iterable[FloatSamples]) -> None:
        """Park the segment made of `pieces`, starting at `start_sample`, after the others."""
        offset = self._written
        head = tail = np.zeros(0, dtype=np.float32)
        self._file.seek(offset)
        for piece in pieces:
            samples = np.ascontiguousarray(piece, dtype=np.float32)
            self._file.write(samples.data.cast("B"))
            self._written += samples.nbytes
            if head.size < GUARD_SAMPLES:
                head = np.concatenate([head, samples[: GUARD_SAMPLES - head.size]])
            tail = np.concatenate([tail, samples[-GUARD_SAMPLES:]])[-GUARD_SAMPLES:]
        end_sample = start_sample + (self._written - offset) // np.dtype(np.float32).itemsize
        self._offsets.append(offset)
        self._heads.append(PlacedAudio(start_sample, head))
        self._tails.append(PlacedAudio(end_sample - tail.size, tail))

    def reorder(self, order: Sequence[int]) -> None:
        """Hand the segments out in `order` (indices as added) from now on."""
        if sorted(order) != list(range(len(self._offsets))):
            raise ValueError("order must name every segment exactly once")
        self._offsets = [self._offsets[index] for index in order]
        self._heads = [self._heads[index] for index in order]
        self._tails = [self._tails[index] for index in order]

    def __len__(self) -> int:
        return len(self._offsets)

    def bounds(self, index: int) -> tuple[int, int]:
        return self._heads[index].start_sample, self._tails[index].end_sample

    def placed(self, index: int) -> PlacedAudio:
        start, end = self.bounds(index)
        samples = np.empty(end - start, dtype=np.float32)
        self._file.seek(self._offsets[index])
        if self._file.readinto(samples.data.cast("B")) != samples.nbytes:
            raise OSError("the dub spill file came back shorter than what was written to it")
        return PlacedAudio(start_sample=start, samples=samples)

    def gained(self, index: int, gain: np.float32) -> PlacedAudio:
        segment = self.placed(index)
        # The read is this call's own copy: gain it in place rather than hold two.
        np.multiply(segment.samples, gain, out=segment.samples)
        return segment

    def context(self, index: int) -> tuple[FloatSamples, FloatSamples]:
        return edge_context(tails=self._tails, heads=self._heads, index=index)
