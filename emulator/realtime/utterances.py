"""Server-side voice detection on the audio as it arrives: the project's own speech
detector, fed block by block, and polled for regions that a pause has closed. Each closed
region is one utterance, and one response."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emulator.realtime.protocol import INPUT_RATE_HZ, invalid_value
from ltb.media.speech_map import SpeechDetector
from ltb.timeline import Span


@dataclass(frozen=True, slots=True)
class Utterance:
    """One stretch of speech, and how much audio had arrived when it was found to be over
    (where its response's billing window ends). Times are on the session's audio
    timeline: seconds of audio since the first append."""

    index: int
    span: Span
    heard_s: float


class UtteranceDetector:
    def __init__(self) -> None:
        self._detector = SpeechDetector()
        self._samples = 0
        self._seen = 0
        self._odd_byte = b""

    @property
    def audio_s(self) -> float:
        return self._samples / INPUT_RATE_HZ

    def feed(self, pcm: bytes) -> list[Utterance]:
        """Takes little-endian PCM16 mono 16 kHz bytes; returns the utterances it ended."""
        data = self._odd_byte + pcm
        if len(data) % 2:
            # A block may split a sample; the half waits for the next block.
            data, self._odd_byte = data[:-1], data[-1:]
        else:
            self._odd_byte = b""
        if not data:
            return []
        samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
        self._samples += samples.size
        self._detector.feed(samples)
        return self._take(self._detector.ended_regions(since=self._seen))

    def finish(self) -> list[Utterance]:
        """Ends the audio: a region still open is closed where the audio stops."""
        ended = self._detector.finish(duration_s=self.audio_s)
        return self._take(ended[self._seen :])

    def _take(self, regions: tuple[Span, ...]) -> list[Utterance]:
        found = []
        for region in regions:
            found.append(Utterance(index=self._seen, span=region, heard_s=self.audio_s))
            self._seen += 1
        return found


def check_audio(pcm: bytes) -> None:
    if not pcm:
        raise invalid_value("'audio' holds no samples.", "audio")
