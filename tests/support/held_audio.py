"""Counts how many chunks' dub audio a process holds at once.

Each read hands out a bytes object that reports when it is freed, so a test can say
"no more than one chunk's PCM was alive at any moment" without measuring memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HeldAudio:
    reads: int = 0
    alive: int = 0
    most_alive: int = 0
    # Every byte count handed out, so a test can check what was read.
    sizes: list[int] = field(default_factory=list)

    def hand_out(self, pcm: bytes) -> bytes:
        self.reads += 1
        self.alive += 1
        self.most_alive = max(self.most_alive, self.alive)
        self.sizes.append(len(pcm))
        return _Tracked(pcm, self)


class _Tracked(bytes):
    def __new__(cls, pcm: bytes, books: HeldAudio) -> _Tracked:
        made = super().__new__(cls, pcm)
        made._books = books  # type: ignore[attr-defined]
        return made

    def __del__(self) -> None:
        self._books.alive -= 1  # type: ignore[attr-defined]
