"""A library of generated test media, made once per session on first use."""

from __future__ import annotations

from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np

from support.media import RATE_HZ, Timeline, speech_timeline, utterances, write_audio, write_video

SPEECH_LAYOUT: list[float | str] = [
    1.0,
    "en_0.flac",
    0.8,
    "zh_1.flac",
    1.2,
    "es_0.flac",
    0.9,
    "en_3.flac",
    1.0,
]


class MediaLibrary:
    def __init__(self, root: Path) -> None:
        self.root = root

    @cached_property
    def speech(self) -> Timeline:
        """About 20 s: English, Chinese, Spanish and a sub-second 'Yes.', with known pauses."""
        return speech_timeline(SPEECH_LAYOUT)

    @cached_property
    def speech_wav(self) -> Path:
        return write_audio(self.root / "speech.wav", self.speech)

    @cached_property
    def speech_mp3(self) -> Path:
        return write_audio(self.root / "speech.mp3", self.speech)

    @cached_property
    def silence_wav(self) -> Path:
        return write_audio(self.root / "silence.wav", np.zeros(5 * RATE_HZ, dtype=np.int16))

    @cached_property
    def subsecond_wav(self) -> Path:
        return write_audio(self.root / "subsecond.wav", speech_timeline([0.2, "en_3.flac", 0.2]))

    def video(
        self,
        name: str,
        *,
        width: int,
        height: int,
        fps: float | Fraction,
        seconds: float | None = None,
        audio: bool = True,
    ) -> Path:
        path = self.root / name
        if not path.exists():
            duration = seconds if seconds is not None else self.speech.duration_s
            write_video(
                path,
                width=width,
                height=height,
                fps=fps,
                seconds=duration,
                audio=self.speech if audio else None,
            )
        return path

    @cached_property
    def landscape_mp4(self) -> Path:
        return self.video("landscape.mp4", width=1280, height=720, fps=30)

    @cached_property
    def portrait_5994_mp4(self) -> Path:
        return self.video("portrait-5994.mp4", width=720, height=1280, fps=Fraction(60000, 1001))

    @cached_property
    def uhd_mp4(self) -> Path:
        return self.video("uhd.mp4", width=3840, height=2160, fps=24, seconds=4.0)

    @cached_property
    def tiny_mp4(self) -> Path:
        return self.video("tiny.mp4", width=64, height=48, fps=25)

    @cached_property
    def wide_mp4(self) -> Path:
        # 6464 / 32 = 202:1, just past the provider's 200:1 limit.
        return self.video("wide.mp4", width=6464, height=32, fps=10, seconds=2.0)

    @cached_property
    def silent_video_mp4(self) -> Path:
        return self.video("no-audio.mp4", width=320, height=240, fps=25, seconds=3.0, audio=False)

    @cached_property
    def empty_mp4(self) -> Path:
        path = self.root / "empty.mp4"
        path.write_bytes(b"")
        return path

    @cached_property
    def text_mp4(self) -> Path:
        path = self.root / "notes.mp4"
        path.write_text("these are meeting notes, not a video\n" * 20)
        return path

    @cached_property
    def truncated_mp4(self) -> Path:
        path = self.root / "truncated.mp4"
        whole = self.landscape_mp4.read_bytes()
        # mp4 files written front to back keep the index (moov) at the end: cut it off.
        path.write_bytes(whole[: len(whole) // 2])
        return path

    @cached_property
    def long_speech(self) -> Timeline:
        """70 minutes: every fixture utterance in turn, with pauses from 0.3 s to 4 s."""
        pauses = [0.3, 0.6, 1.2, 0.45, 2.5, 0.8, 4.0, 0.35]
        layout: list[float | str] = []
        total = 0.0
        items = utterances()
        i = 0
        while total < 70 * 60:
            u = items[i % len(items)]
            pause = pauses[i % len(pauses)]
            layout += [pause, u.file]
            total += pause + u.duration_s
            i += 1
        return speech_timeline(layout)

    @cached_property
    def long_flac(self) -> Path:
        return write_audio(self.root / "seventy-minutes.flac", self.long_speech)
