"""The dub mix: the dub alone, or the dub over the original soundtrack, at broadcast loudness.

Two ways to mix (`DubMix`):

- "replace": the dub alone, for a source whose soundtrack is only speech;
- "voiceover": the original audio kept under the dub, lowered by `duck_db` (-15 dB by
  default) while the dub speaks, so music and effects carry on between the lines. The
  level moves in short ramps (RAMP_S, in decibels) that end as the dub starts and start
  as it ends, so the change is heard as a fade, never as a click.

The result is levelled to -23 LUFS integrated (EBU R128) with true peaks at or under
-1 dBTP: the same meters as the dub (pipeline.dub.meter, pipeline.dub.true_peak) measure the
mix, a single gain brings it to target, and the true-peak limiter shapes the rare peak
the gain pushes over the ceiling (which costs a little loudness, so the gain is corrected
and the mix made again, as the dub's levelling does). The limiter works channel by
channel; its ramps are counted in samples, so at 48 kHz they last 2.5 ms, half what
they do on the 24 kHz dub.

Everything streams: both inputs are decoded block by block and mixed as they come, and
each pass holds a few blocks, never the timeline, so memory is the same for a minute as
for six hours. The inputs are decoded once: the first pass (the measure) keeps the
unlevelled mix as raw float32 in a file beside the result, which the passes that level it
read back (disk for CPU: 690 MB an hour of stereo, removed when the mix is written). The mix is 48 kHz, mono or stereo as the original (stereo for anything
wider; "replace" is mono, as the dub is), written as 24-bit FLAC: lossless, and without
WAV's 4 GB limit, which a six-hour stereo mix would pass.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import av.container
import numpy as np
import numpy.typing as npt
import soundfile

from ltb.media.containers import open_media
from ltb.timeline import Span
from pipeline.dub.meter import LoudnessMeter, gated_loudness_lufs
from pipeline.dub.true_peak import TruePeakMeter, limit_true_peak

DubMix = Literal["replace", "voiceover"]
DUB_MIXES: tuple[DubMix, ...] = ("replace", "voiceover")

MIX_RATE_HZ = 48_000
DEFAULT_DUCK_DB = -15.0
# How long the original takes to go down before the dub speaks, and to come back after.
RAMP_S = 0.1
_BLOCK_SAMPLES = 2 * MIX_RATE_HZ
# The limiter decides each sample's gain from the samples around it (the true-peak
# interpolator's reach, then 2 x 5 ms of lookahead and release, over up to four passes):
# each block is limited with this much of its neighbours on both sides, so the gain at a
# block's edge is the one the whole timeline would get.
_LIMITER_MARGIN = 4096
_TOLERANCE_LU = 0.05
_MAX_PASSES = 4
_LIMITER_HEADROOM_DB = 0.01

Block = npt.NDArray[np.float32]  # (channels, samples)


@dataclass(frozen=True, slots=True)
class MixReport:
    """What mix_dub wrote and measured, for the manifest."""

    mode: DubMix
    duration_s: float
    channels: int
    duck_db: float | None
    gain_db: float
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    limiter_engaged: bool
    passes: int


def mix_dub(
    *,
    dub: Path,
    original: Path | None,
    out_path: Path,
    mode: DubMix,
    duration_s: float,
    speech: Sequence[Span] = (),
    duck_db: float = DEFAULT_DUCK_DB,
    target_lufs: float = -23.0,
    ceiling_dbtp: float = -1.0,
) -> MixReport:
    """Write the dub mix of `duration_s` seconds to `out_path` (FLAC) and report it.

    `dub` is the dub track (render_dub's WAV), `original` the source (any file with an
    audio stream; needed for "voiceover"), `speech` the spans where the dub speaks (its
    placements), under which the original is ducked by `duck_db`.
    """
    if mode not in DUB_MIXES:
        raise ValueError(f"unknown dub mix {mode!r}; use one of: {', '.join(DUB_MIXES)}")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a positive time, got {duration_s!r}")
    if not (math.isfinite(duck_db) and duck_db <= 0):
        raise ValueError(f"duck_db must be zero or negative, got {duck_db!r}")
    if mode == "voiceover" and original is None:
        raise ValueError("a voiceover mix needs the original audio")
    total = round(duration_s * MIX_RATE_HZ)
    channels = 1 if mode == "replace" or original is None else _channels_of(original)
    duck = DuckEnvelope(speech=speech, duck_db=duck_db)

    def mixed_blocks() -> Iterator[Block]:
        dub_blocks = _decoded_blocks(dub, channels=1, total=total)
        if mode == "replace" or original is None:
            yield from dub_blocks
            return
        start = 0
        originals = _decoded_blocks(original, channels=channels, total=total)
        for dub_block, original_block in zip(dub_blocks, originals, strict=True):
            gains = duck.gains(start=start, count=dub_block.shape[1])
            yield original_block * gains + dub_block
            start += dub_block.shape[1]

    partial = out_path.with_name(out_path.name + ".partial")
    spool = _Spool(out_path.with_name(out_path.name + ".unlevelled.f32"), channels=channels)
    passes = 1
    try:
        # Pass one measures the mix as it comes (loudness scales exactly with gain) and
        # keeps it, so the passes that level it read it back instead of decoding again.
        unlevelled = _Measure(channels)
        with spool.writing() as keep:
            for block in mixed_blocks():
                unlevelled.feed(block)
                keep(block)
        measured = unlevelled.loudness_lufs()
        gain_db = 0.0 if measured is None else target_lufs - measured
        peak = unlevelled.true_peak_dbtp()
        reach = ceiling_dbtp - _LIMITER_HEADROOM_DB
        limit = peak is not None and peak + gain_db > reach
        while True:
            passes += 1
            written = _write(
                _levelled(spool.blocks(), gain_db=gain_db, ceiling_dbtp=ceiling_dbtp, limit=limit),
                out_path=partial,
                channels=channels,
            )
            loudness = written.loudness_lufs()
            if (
                not limit
                or loudness is None
                or abs(target_lufs - loudness) <= _TOLERANCE_LU
                or passes > _MAX_PASSES
            ):
                break
            # The limiter took some loudness away with the peaks: ask for a little more gain.
            gain_db += target_lufs - loudness
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        spool.remove()
    os.replace(partial, out_path)
    return MixReport(
        mode=mode,
        duration_s=total / MIX_RATE_HZ,
        channels=channels,
        duck_db=duck_db if mode == "voiceover" else None,
        gain_db=gain_db,
        loudness_lufs=written.loudness_lufs(),
        true_peak_dbtp=written.true_peak_dbtp(),
        limiter_engaged=limit,
        passes=passes,
    )


class DuckEnvelope:
    """The original's gain over the timeline: 0 dB, `duck_db` under speech, ramps between.

    Spans closer together than two ramps are joined, so the original does not bob up
    for a breath between two lines.
    """

    def __init__(self, *, speech: Sequence[Span], duck_db: float, ramp_s: float = RAMP_S) -> None:
        merged: list[list[float]] = []
        for span in sorted(speech):
            if span.duration_s <= 0:
                continue
            if merged and span.start_s - merged[-1][1] < 2 * ramp_s:
                merged[-1][1] = max(merged[-1][1], span.end_s)
            else:
                merged.append([span.start_s, span.end_s])
        times: list[float] = []
        levels: list[float] = []
        for start_s, end_s in merged:
            times += [start_s - ramp_s, start_s, end_s, end_s + ramp_s]
            levels += [0.0, duck_db, duck_db, 0.0]
        self._times = np.array(times) * MIX_RATE_HZ
        self._levels_db = np.array(levels)

    def gains(self, *, start: int, count: int) -> npt.NDArray[np.float32]:
        """Linear gains for samples start .. start + count - 1 of the timeline."""
        if self._times.size == 0:
            return np.ones(count, dtype=np.float32)
        positions = np.arange(start, start + count, dtype=np.float64)
        levels = np.interp(positions, self._times, self._levels_db, left=0.0, right=0.0)
        gains: npt.NDArray[np.float32] = (10.0 ** (levels / 20.0)).astype(np.float32)
        return gains


class _Measure:
    """Integrated loudness (channels summed, as BS.1770 does) and true peak of a stream."""

    def __init__(self, channels: int) -> None:
        self._loudness = [LoudnessMeter(sample_rate_hz=MIX_RATE_HZ) for _ in range(channels)]
        self._peaks = [TruePeakMeter() for _ in range(channels)]

    def feed(self, block: Block) -> None:
        for channel, samples in enumerate(block):
            self._loudness[channel].feed(samples)
            self._peaks[channel].feed(samples)

    def loudness_lufs(self) -> float | None:
        summed = sum(meter.subblock_mean_squares() for meter in self._loudness)
        return gated_loudness_lufs(subblock_mean_squares=np.asarray(summed))

    def true_peak_dbtp(self) -> float | None:
        peaks = [meter.peak_dbtp() for meter in self._peaks]
        known = [peak for peak in peaks if peak is not None]
        return max(known) if known else None


def _levelled(
    blocks: Iterator[Block], *, gain_db: float, ceiling_dbtp: float, limit: bool
) -> Iterator[Block]:
    gain = np.float32(10.0 ** (gain_db / 20.0))
    gained = (block * gain for block in blocks)
    if not limit:
        yield from gained
        return
    # Each block is limited once its successor is known, with both neighbours as context.
    previous: Block | None = None
    current = next(gained, None)
    while current is not None:
        following = next(gained, None)
        yield _limited(current, previous, following, ceiling_dbtp=ceiling_dbtp)
        previous, current = current, following


def _limited(
    block: Block, previous: Block | None, following: Block | None, *, ceiling_dbtp: float
) -> Block:
    channels = block.shape[0]
    empty = np.zeros((channels, 0), dtype=np.float32)
    before = (previous if previous is not None else empty)[:, -_LIMITER_MARGIN:]
    after = (following if following is not None else empty)[:, :_LIMITER_MARGIN]
    window = np.concatenate([before, block, after], axis=1)
    out = np.empty_like(block)
    for channel in range(channels):
        limited = limit_true_peak(
            samples=np.ascontiguousarray(window[channel]), ceiling_dbtp=ceiling_dbtp
        ).samples
        out[channel] = limited[before.shape[1] : before.shape[1] + block.shape[1]]
    return out


class _Spool:
    """The unlevelled mix, kept as raw float32 beside the result between the passes.

    Written and read back block by block with plain file reads (not a memory map, whose
    pages would count in the process's resident memory), so memory stays a few blocks;
    the disk holds 192 kB a second of stereo (690 MB an hour) until mix_dub returns.
    """

    def __init__(self, path: Path, *, channels: int) -> None:
        self._path = path
        self._channels = channels
        self._block_sizes: list[int] = []

    @contextlib.contextmanager
    def writing(self) -> Iterator[Callable[[Block], None]]:
        self._block_sizes = []
        with self._path.open("wb") as file:

            def keep(block: Block) -> None:
                # (channels, samples) in C order: each block reads back as one array.
                file.write(np.ascontiguousarray(block, dtype=np.float32).data)
                self._block_sizes.append(block.shape[1])

            yield keep

    def blocks(self) -> Iterator[Block]:
        with self._path.open("rb") as file:
            for size in self._block_sizes:
                flat = np.fromfile(file, dtype=np.float32, count=self._channels * size)
                if flat.size != self._channels * size:
                    raise OSError(f"{self._path.name} ended early")
                yield flat.reshape(self._channels, size)

    def remove(self) -> None:
        self._path.unlink(missing_ok=True)


def _write(blocks: Iterator[Block], *, out_path: Path, channels: int) -> _Measure:
    measure = _Measure(channels)
    with soundfile.SoundFile(
        out_path,
        mode="w",
        samplerate=MIX_RATE_HZ,
        channels=channels,
        subtype="PCM_24",
        format="FLAC",
        # The file lives until the remux encodes it to AAC: the fastest FLAC setting costs
        # a few percent more disk and a third less CPU than the default, losslessly all the same.
        compression_level=0.0,
    ) as flac:
        for block in blocks:
            # What is measured is what the file holds: 24-bit samples, clipped at full scale.
            stored = np.clip(np.round(block * 8_388_608.0), -8_388_608, 8_388_607) / 8_388_608.0
            stored32 = stored.astype(np.float32)
            measure.feed(stored32)
            flac.write(stored32.T)
    return measure


def _channels_of(path: Path) -> int:
    with open_media(path) as container:
        if not container.streams.audio:
            raise ValueError(f"{path.name} has no audio stream")
        return 1 if (container.streams.audio[0].codec_context.channels or 1) == 1 else 2


def _decoded_blocks(path: Path, *, channels: int, total: int) -> Iterator[Block]:
    """The first audio stream as (channels, _BLOCK_SAMPLES) float blocks at MIX_RATE_HZ,
    `total` samples in all: cut there, or padded with silence when the audio ends early."""
    resampler = av.AudioResampler(
        format="fltp", layout="stereo" if channels == 2 else "mono", rate=MIX_RATE_HZ
    )
    pending: list[Block] = []
    pending_samples = 0
    produced = 0
    with open_media(path) as container:
        stream = container.streams.audio[0]
        for frame in _decoded_then_flushed(container, stream, resampler, channels=channels):
            pending.append(frame)
            pending_samples += frame.shape[1]
            while pending_samples >= _BLOCK_SAMPLES and produced < total:
                block, pending = _take(
                    pending, min(_BLOCK_SAMPLES, total - produced), channels=channels
                )
                pending_samples -= block.shape[1]
                produced += block.shape[1]
                yield block
            if produced >= total:
                return
    while produced < total:
        size = min(_BLOCK_SAMPLES, total - produced)
        block, pending = _take(pending, min(size, pending_samples), channels=channels)
        pending_samples -= block.shape[1]
        if block.shape[1] < size:
            silence = np.zeros((channels, size - block.shape[1]), dtype=np.float32)
            block = np.concatenate([block, silence], axis=1)
        produced += size
        yield block


def _decoded_then_flushed(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    resampler: av.AudioResampler,
    *,
    channels: int,
) -> Iterator[Block]:
    # The timeline starts where the container does: audio that starts later (a source
    # whose sound comes in after the picture) is led by silence, audio that starts
    # earlier is cut, so the mix lines up with the picture the muxer copies.
    origin_s = (container.start_time or 0) / av.time_base
    lead: int | None = None
    layout = "stereo" if channels == 2 else "mono"
    resampling = False
    for frame in container.decode(stream):
        if lead is None:
            start_s = origin_s
            if frame.pts is not None and frame.time_base is not None:
                start_s = float(frame.pts * frame.time_base)
            lead = round((start_s - origin_s) * MIX_RATE_HZ)
            if lead > 0:
                yield np.zeros((channels, lead), dtype=np.float32)
        # A frame already as the mix wants it (48 kHz float planes, the mix's layout: the
        # usual AAC soundtrack) is taken as it is; the resampler would only copy it. Once the
        # resampler has been fed, it is fed everything, as it may hold samples back.
        if not resampling and _as_mixed(frame, layout=layout):
            converted = [frame.to_ndarray()]
        else:
            resampling = True
            converted = [resampled.to_ndarray() for resampled in resampler.resample(frame)]
        for samples in converted:
            samples = samples.astype(np.float32, copy=False)
            if lead < 0:
                skipped = min(-lead, samples.shape[1])
                samples, lead = samples[:, skipped:], lead + skipped
            yield samples
    if resampling:
        for resampled in resampler.resample(None):
            yield resampled.to_ndarray().astype(np.float32, copy=False)


def _as_mixed(frame: av.AudioFrame, *, layout: str) -> bool:
    return (
        frame.format.name == "fltp"
        and frame.sample_rate == MIX_RATE_HZ
        and frame.layout.name == layout
    )


def _take(pending: list[Block], count: int, *, channels: int) -> tuple[Block, list[Block]]:
    if not pending:
        return np.zeros((channels, 0), dtype=np.float32), []
    joined = np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]
    head, rest = joined[:, :count], joined[:, count:]
    return np.ascontiguousarray(head), ([rest] if rest.shape[1] else [])
