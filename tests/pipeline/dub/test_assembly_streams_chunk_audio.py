"""Assembly reads one chunk's dub at a time: the callers hand it readers, and no more
than one chunk's PCM is in memory at any moment however many chunks there are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltb.timeline import Span
from pipeline.assemble import DubSettings, TranslatedChunk, assemble_outputs
from pipeline.dub.chunk_audio import PcmFile

from support.held_audio import HeldAudio

RATE_HZ = 24_000


def _tone(seconds: float) -> bytes:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()


@dataclass(frozen=True)
class CountedAudio:
    pcm: bytes
    held: HeldAudio

    @property
    def nbytes(self) -> int:
        return len(self.pcm)

    def read(self) -> bytes:
        return self.held.hand_out(self.pcm)


def test_the_dub_reads_each_chunks_audio_once_and_holds_one_at_a_time(tmp_path: Path) -> None:
    held = HeldAudio()
    chunks = [
        TranslatedChunk(
            index=index,
            span=Span(index * 10.0, index * 10.0 + 10),
            speech=(Span(index * 10.0 + 1, index * 10.0 + 8),),
            text=f"Sentence {index}.",
            audio=CountedAudio(_tone(3.0 + index % 3), held),
        )
        for index in range(8)
    ]

    assembled = assemble_outputs(
        chunks,
        outputs=("text", "srt", "vtt", "wav"),
        target_lang="en",
        timeline_end_s=80.0,
        out_dir=tmp_path,
        no_speech=False,
        dub=DubSettings(max_speed=1.25, loudness_lufs=-23.0, true_peak_dbtp=-1.0),
    )

    assert assembled.dub is not None and len(assembled.dub.placements) == 8
    assert held.reads == 8
    assert held.most_alive == 1
    assert (tmp_path / "translation.txt").read_text().startswith("Sentence 0.")


def test_spilled_audio_reads_back_what_was_spilled(tmp_path: Path) -> None:
    pcm = _tone(0.5)
    audio = PcmFile.spill(tmp_path / "dub" / "chunk-3.pcm", pcm)

    assert audio.nbytes == len(pcm)
    assert audio.read() == pcm
