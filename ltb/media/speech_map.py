"""speech map: where the speech is. It drives everything after it: where chunks are cut,
when subtitles show, where dubs are placed.

The detector is WebRTC's VAD (webrtcvad-wheels) behind an adaptive energy gate.
Why WebRTC and not Silero: the audio path has to run at 200x real time on one core with
flat memory, and WebRTC's GMM classifies a 30 ms frame in microseconds with no model
file to load. Its weakness is that anything voiced-sounding passes (tones, hum, music);
the gate rejects frames that are not clearly above the recent noise floor, which removes
tones, hum and stationary noise. Music with pauses can still pass: the map then errs
towards speech, which costs a few tokens but never drops a line of dialogue.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import webrtcvad

from ltb.media.audio import ANALYSIS_RATE_HZ, Pcm16, SoundtrackDecode
from ltb.timeline import Span, total_duration_s

FRAME_SAMPLES = 480  # 30 ms at 16 kHz, the longest frame WebRTC's VAD accepts
FRAME_S = FRAME_SAMPLES / ANALYSIS_RATE_HZ
_FRAMES_PER_SECOND = round(1 / FRAME_S)
_QUIET_WINDOW_FRAMES = 3


@dataclass(frozen=True, slots=True)
class VadSettings:
    # 3 is WebRTC's strictest mode; the energy gate and hysteresis recover soft onsets.
    aggressiveness: int = 3
    # A pause shorter than this stays inside a region (commas, breaths between words).
    min_silence_s: float = 0.3
    # A region needs this much voiced time, so clicks and door slams are dropped.
    min_voiced_s: float = 0.09
    # Padding keeps soft consonants at the edges that the VAD scores as silence.
    pad_s: float = 0.1
    # The gate: a frame counts only if it is this far above the rolling noise floor...
    gate_margin_db: float = 6.0
    # ...taken as this percentile of the last `floor_window_s` of frame energies...
    floor_percentile: float = 10.0
    floor_window_s: float = 10.0
    # ...and never below an absolute floor, so digital near-silence is never speech.
    absolute_floor_dbfs: float = -60.0


@dataclass(frozen=True, slots=True)
class QuietPoint:
    """The quietest moment of one second of audio: where to cut if a cut must go through speech."""

    time_s: float
    level_db: float


@dataclass(frozen=True, slots=True)
class SpeechMap:
    regions: tuple[Span, ...]
    duration_s: float
    quiet_points: tuple[QuietPoint, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def speech_s(self) -> float:
        return total_duration_s(self.regions)

    @property
    def is_empty(self) -> bool:
        return not self.regions

    def summary(self) -> dict[str, Any]:
        """What the manifest and the estimate show of the map."""
        pauses = [b.start_s - a.end_s for a, b in itertools.pairwise(self.regions)]
        return {
            "regions": len(self.regions),
            "speech_s": round(self.speech_s, 3),
            "duration_s": round(self.duration_s, 3),
            "speech_share": round(self.speech_s / self.duration_s, 4) if self.duration_s else 0.0,
            "longest_region_s": round(max((r.duration_s for r in self.regions), default=0.0), 3),
            "longest_pause_s": round(max(pauses, default=0.0), 3),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "spans": [[round(r.start_s, 3), round(r.end_s, 3)] for r in self.regions],
        }


@dataclass
class SpeechDetector:
    """Turns a stream of 16 kHz int16 blocks into speech regions, holding O(regions) state."""

    settings: VadSettings = field(default_factory=VadSettings)
    _vad: webrtcvad.Vad = field(init=False)
    _pending: Pcm16 = field(init=False)
    _energies: deque[float] = field(init=False)
    _floor_db: float = field(init=False)
    _frame_index: int = field(init=False, default=0)
    _open_start: int | None = field(init=False, default=None)
    _open_last_voiced: int = field(init=False, default=0)
    _open_voiced: int = field(init=False, default=0)
    _raw_regions: list[tuple[int, int]] = field(init=False, default_factory=list)
    _recent_db: deque[float] = field(init=False)
    _second_quietest: tuple[int, float] | None = field(init=False, default=None)
    _quiet_points: list[QuietPoint] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.settings.aggressiveness)
        self._pending = np.zeros(0, dtype=np.int16)
        self._energies = deque(maxlen=max(1, round(self.settings.floor_window_s / FRAME_S)))
        self._floor_db = self.settings.absolute_floor_dbfs
        self._recent_db = deque(maxlen=_QUIET_WINDOW_FRAMES)

    def feed(self, block: Pcm16) -> None:
        """Consumes one block of samples; any length."""
        samples = np.concatenate([self._pending, block]) if self._pending.size else block
        whole = samples.size - samples.size % FRAME_SAMPLES
        frames = samples[:whole].reshape(-1, FRAME_SAMPLES)
        self._pending = samples[whole:].copy()
        if not len(frames):
            return
        # Energy in dBFS per frame, computed for the whole block at once.
        power = np.mean(frames.astype(np.float64) ** 2, axis=1) / 32768.0**2
        energies_db = 10.0 * np.log10(power + 1e-12)
        for frame, energy_db in zip(frames, energies_db, strict=True):
            self._step(frame, float(energy_db))

    def _step(self, frame: Pcm16, energy_db: float) -> None:
        s = self.settings
        self._energies.append(energy_db)
        # The floor is refreshed every 10 frames: a percentile per frame would dominate the cost.
        if self._frame_index % 10 == 0:
            self._floor_db = float(np.percentile(self._energies, s.floor_percentile))
        gate_db = max(s.absolute_floor_dbfs, self._floor_db + s.gate_margin_db)
        voiced = energy_db > gate_db and self._vad.is_speech(frame.tobytes(), ANALYSIS_RATE_HZ)
        index = self._frame_index
        self._frame_index += 1
        self._track_quiet(index, energy_db)
        if voiced:
            if self._open_start is None:
                self._open_start = index
                self._open_voiced = 0
            self._open_last_voiced = index
            self._open_voiced += 1
        elif (
            self._open_start is not None
            and (index - self._open_last_voiced) * FRAME_S >= s.min_silence_s
        ):
            self._close_region()

    def _track_quiet(self, index: int, energy_db: float) -> None:
        # The level of a 90 ms window, so one quiet frame inside a syllable is not chosen.
        self._recent_db.append(energy_db)
        level = sum(self._recent_db) / len(self._recent_db)
        centre = index - len(self._recent_db) // 2
        if self._second_quietest is None or level < self._second_quietest[1]:
            self._second_quietest = (centre, level)
        if (index + 1) % _FRAMES_PER_SECOND == 0:
            self._flush_quiet()

    def _flush_quiet(self) -> None:
        if self._second_quietest is not None:
            frame, level = self._second_quietest
            self._quiet_points.append(QuietPoint(_ms((frame + 0.5) * FRAME_S), round(level, 1)))
        self._second_quietest = None

    def _close_region(self) -> None:
        assert self._open_start is not None
        if self._open_voiced * FRAME_S >= self.settings.min_voiced_s:
            self._raw_regions.append((self._open_start, self._open_last_voiced + 1))
        self._open_start = None

    @property
    def heard_s(self) -> float:
        """How much audio has been classified so far (a partial frame waits for more)."""
        return self._frame_index * FRAME_S

    def ended_regions(self, *, since: int = 0) -> tuple[Span, ...]:
        """The padded regions already closed by a long enough pause, from the `since`-th on;
        a region still open is left out. A live listener polls this to learn that an
        utterance is over, passing how many it has already seen."""
        return _padded_and_merged(
            self._raw_regions[since:],
            pad_s=self.settings.pad_s,
            duration_s=self.heard_s,
            offset_s=0.0,
        )

    def finish(self, *, duration_s: float, offset_s: float = 0.0) -> tuple[Span, ...]:
        """Closes the stream; returns padded, merged regions on the source timeline."""
        if self._open_start is not None:
            self._close_region()
        return _padded_and_merged(
            self._raw_regions, pad_s=self.settings.pad_s, duration_s=duration_s, offset_s=offset_s
        )

    def quiet_points(self, *, offset_s: float = 0.0) -> tuple[QuietPoint, ...]:
        """The quietest moment of each second seen, shifted onto the source timeline."""
        self._flush_quiet()
        return tuple(QuietPoint(_ms(p.time_s + offset_s), p.level_db) for p in self._quiet_points)


def _padded_and_merged(
    raw: Iterable[tuple[int, int]], *, pad_s: float, duration_s: float, offset_s: float
) -> tuple[Span, ...]:
    merged: list[Span] = []
    for first, end in raw:
        start_s = max(0.0, first * FRAME_S + offset_s - pad_s)
        end_s = min(duration_s, end * FRAME_S + offset_s + pad_s)
        if end_s <= start_s:
            continue
        if merged and start_s <= merged[-1].end_s:
            merged[-1] = Span(merged[-1].start_s, max(merged[-1].end_s, end_s))
        else:
            merged.append(Span(start_s, end_s))
    return tuple(Span(_ms(r.start_s), _ms(r.end_s)) for r in merged)


def _ms(seconds: float) -> float:
    return math.floor(seconds * 1000 + 0.5) / 1000


def detect_speech(
    blocks: Iterable[Pcm16], *, duration_s: float, settings: VadSettings | None = None
) -> tuple[Span, ...]:
    """Speech regions in 16 kHz int16 audio given as blocks."""
    detector = SpeechDetector(settings or VadSettings())
    for block in blocks:
        detector.feed(block)
    return detector.finish(duration_s=duration_s)


def map_speech(
    path: Path,
    *,
    audio_start_s: float = 0.0,
    timeout_s: float = 1800.0,
    settings: VadSettings | None = None,
    name: str | None = None,
) -> SpeechMap:
    """Decodes the soundtrack of `path` in a streaming pass and maps its speech. Refusals
    call the source `name` (see `open_media`)."""
    decode = SoundtrackDecode(path, timeout_s=timeout_s, name=name)
    detector = SpeechDetector(settings or VadSettings())
    for block in decode:
        detector.feed(block)
    offset_s = max(0.0, audio_start_s)
    duration_s = decode.duration_s + offset_s
    return SpeechMap(
        regions=detector.finish(duration_s=duration_s, offset_s=offset_s),
        duration_s=duration_s,
        quiet_points=detector.quiet_points(offset_s=offset_s),
        warnings=tuple(decode.warnings),
    )
