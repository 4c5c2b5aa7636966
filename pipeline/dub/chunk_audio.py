"""Where a chunk's dub audio waits until assembly renders its segment.

A 2-hour dub is some 350 MB of PCM16. The renderer needs one segment at a time, so the
callers hand it readers rather than bytes: `ltb translate` spills each reply to a scratch
file as it arrives, the worker reads each chunk's row when its segment comes up. Only
the size is known up front, which is all the placement needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class DubAudio(Protocol):
    """A chunk's dub, PCM16 LE mono 24 kHz, read only when its segment is rendered."""

    @property
    def nbytes(self) -> int:
        """The audio's length in bytes, known without reading it."""
        ...

    def read(self) -> bytes:
        """The whole audio; each call reads it afresh, so nothing keeps it afterwards."""
        ...


@dataclass(frozen=True, slots=True)
class PcmInMemory:
    """Audio already in memory (short files, tests)."""

    pcm: bytes

    @property
    def nbytes(self) -> int:
        return len(self.pcm)

    def read(self) -> bytes:
        return self.pcm


NO_AUDIO = PcmInMemory(b"")


@dataclass(frozen=True, slots=True)
class PcmFile:
    """Audio spilled to a scratch file."""

    path: Path
    nbytes: int

    @classmethod
    def spill(cls, path: Path, pcm: bytes) -> PcmFile:
        """Writes `pcm` to `path`, so the caller can let go of its copy."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pcm)
        return cls(path=path, nbytes=len(pcm))

    def read(self) -> bytes:
        data = self.path.read_bytes()
        if len(data) != self.nbytes:
            raise OSError(f"{self.path} holds {len(data)} bytes of dub, {self.nbytes} were spilled")
        return data
