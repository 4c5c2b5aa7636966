"""One file through the realtime engine on one machine (`ltb translate --engine realtime`):
probe → speech map → segments → sessions (concurrently) → placement → assemble → manifest.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ltb.errors import LtbError, RequestRefused
from ltb.media.audio import ANALYSIS_RATE_HZ, SoundtrackDecode
from ltb.outputs import MANIFEST_FILE, check_video_outputs, spoken
from ltb.pricing import PriceTable
from ltb.settings import Settings
from ltb.states import Engine
from ltb.usage import TokenCounts
from pipeline.analysis import SourceAnalysis, analyse_source, media_limits
from pipeline.assemble import (
    DubSettings,
    MixSettings,
    SourceMedia,
    TranslatedChunk,
    assemble_outputs,
)
from pipeline.assembly import source_cues_of
from pipeline.dub.chunk_audio import NO_AUDIO, PcmInMemory
from pipeline.estimate import TranslationRequest
from pipeline.ratelimit import RateLimiter
from pipeline.realtime.client import Frame, RealtimeClient, SessionConfig, SessionInput
from pipeline.realtime.engine import (
    SegmentFailed,
    SegmentResult,
    SegmentWork,
    run_segment,
    run_segments,
)
from pipeline.realtime.estimate import expected_output, segment_limits
from pipeline.realtime.frames import frame_size, sample_frames
from pipeline.realtime.manifest import realtime_manifest
from pipeline.realtime.segments import Segment, plan_segments
from pipeline.run_local import RunResult
from pipeline.translate import RetryPolicy
from pipeline.usage_records import JsonlUsageLog


@dataclass(frozen=True, slots=True)
class RealtimeJob:
    source: Path
    request: TranslationRequest
    out_dir: Path
    max_speed: float = 1.25
    max_sessions: int = 4


def require_source_lang(request: TranslationRequest) -> str:
    """The realtime engine's transcript needs the source language named."""
    if not request.source_lang:
        raise RequestRefused(
            "the realtime engine needs the source language (its transcript is configured "
            "with it): pass --source-lang (or source_lang in the API)",
            code="source_lang_required",
        )
    return request.source_lang


def translate_file_realtime(
    job: RealtimeJob,
    *,
    settings: Settings,
    client: RealtimeClient,
    limiter: RateLimiter,
    price_table: PriceTable,
) -> RunResult:
    source_lang = require_source_lang(job.request)
    analysis = analyse_source(job.source, limits=media_limits(settings), name=str(job.source))
    check_video_outputs(
        job.request.outputs, has_video=analysis.info.has_video, source=job.source.name
    )
    limits = segment_limits(settings, analysis, visual_context=job.request.visual_context)
    segments = plan_segments(
        analysis.speech.regions,
        duration_s=analysis.duration_s,
        limits=limits,
        sessions=job.max_sessions,
    )
    job.out_dir.mkdir(parents=True, exist_ok=True)
    work_dir = job.out_dir / ".ltb"
    work_dir.mkdir(exist_ok=True)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    log = JsonlUsageLog(
        work_dir / f"usage-realtime-{run_id}.jsonl", model=client.model, engine=Engine.REALTIME
    )
    config = SessionConfig(
        target_lang=job.request.target_lang,
        source_lang=source_lang,
        voice=job.request.voice if spoken(job.request.outputs) else None,
    )
    works = segment_works(job, settings, analysis, segments, config, limits.frame is not None)
    policy = RetryPolicy(
        max_attempts=settings.provider_max_attempts,
        base_s=settings.provider_backoff_base_s,
        max_s=settings.provider_backoff_max_s,
        max_retry_after_s=settings.provider_retry_after_max_s,
    )

    async def run(work: SegmentWork) -> SegmentResult:
        return await run_segment(
            work, client=client, limiter=limiter, recorder=log, policy=policy, rng=random.Random()
        )

    results: list[SegmentResult] = []
    error: LtbError | None = None
    try:
        results = asyncio.run(run_segments(works, max_sessions=job.max_sessions, run=run))
    except SegmentFailed as failed:
        error = failed
    outputs: dict[str, Path] = {}
    subtitles: dict[str, Any] | None = None
    warnings: list[str] = [*analysis.warnings]
    warnings += [
        f"cut_through_speech: segment {s.index} is cut inside speech with no pause"
        for s in segments
        if s.cut_through_speech
    ]
    dub = None
    mix = None
    if error is None:
        chunks = translated_chunks(results)
        video = analysis.info.video
        assembly_dir = work_dir / "assembly"
        assembly_dir.mkdir(exist_ok=True)
        try:
            assembled = assemble_outputs(
                chunks,
                outputs=job.request.outputs,
                target_lang=job.request.target_lang,
                timeline_end_s=analysis.duration_s,
                out_dir=job.out_dir,
                no_speech=not segments,
                dub=DubSettings(
                    max_speed=job.max_speed,
                    loudness_lufs=settings.loudness_lufs,
                    true_peak_dbtp=settings.true_peak_dbtp,
                ),
                work_dir=assembly_dir,
                mix=MixSettings(mode=job.request.dub_mix, duck_db=job.request.duck_db),
                source=SourceMedia(
                    path=lambda: job.source,
                    lang=source_lang,
                    frame_size=(video.width, video.height) if video else None,
                ),
                # The transcript's captions: source.srt/.vtt, the bilingual track, and the
                # dubbed video's second subtitle track.
                source_cues=source_cues_of(
                    chunks, source_lang=source_lang, timeline_end_s=analysis.duration_s
                ),
            )
        finally:
            shutil.rmtree(assembly_dir, ignore_errors=True)
        outputs, subtitles, dub = assembled.paths, assembled.subtitles, assembled.dub
        mix = assembled.mix
        warnings += assembled.warnings
    outcome = "failed" if error else ("no_speech" if not segments else "ok")
    manifest = realtime_manifest(
        job={
            "source": job.source.name,
            "engine": Engine.REALTIME,
            "target_lang": job.request.target_lang,
            "source_lang": source_lang,
            "outputs": list(job.request.outputs),
            "voice": config.voice,
            "visual_context": "on" if job.request.visual_context else "off",
            "dub_mix": job.request.dub_mix.value,
            "duck_db": job.request.duck_db,
            "max_speed": job.max_speed,
            "max_sessions": job.max_sessions,
            "pace": client.pace,
            "model": client.model,
            "realtime_url": client.url,
            "price_table": price_table.id,
        },
        analysis=analysis,
        segments=segments,
        results=results,
        error=error,
        records=log.records(),
        estimate=TokenCounts.sum(w.expected for w in works),
        price_table=price_table,
        model=client.model,
        provider=client.provider,
        outcome=outcome,
        outputs={kind: path.name for kind, path in outputs.items()},
        warnings=warnings,
        subtitles=subtitles,
        dub=dub,
        mix=mix,
    )
    manifest_path = job.out_dir / MANIFEST_FILE
    _write_json(manifest_path, manifest)
    return RunResult(outcome, manifest, manifest_path, outputs, error)


def segment_works(
    job: RealtimeJob,
    settings: Settings,
    analysis: SourceAnalysis,
    segments: list[Segment],
    config: SessionConfig,
    with_frames: bool,
) -> list[SegmentWork]:
    """Each segment's audio (16 kHz PCM16) and frames, ready to stream."""
    if not segments:
        return []
    samples = decoded_soundtrack(job.source, timeout_s=settings.decode_timeout_s)
    offset_s = max(0.0, analysis.info.audio.start_s)
    frames: list[list[Frame]] = [[] for _ in segments]
    video = analysis.info.video
    if with_frames and video is not None:
        size = frame_size(
            video.width, video.height, max_height_px=settings.realtime_frame_height_px
        )
        frames = sample_frames(
            job.source,
            [s.span for s in segments],
            fps=settings.realtime_frame_fps,
            size=size,
            name=str(job.source),
        )
    works = []
    for segment, segment_frames in zip(segments, frames, strict=True):
        first = max(0, round((segment.span.start_s - offset_s) * ANALYSIS_RATE_HZ))
        last = max(first, round((segment.span.end_s - offset_s) * ANALYSIS_RATE_HZ))
        pcm = samples[first:last].astype("<i2").tobytes()
        works.append(
            SegmentWork(
                segment=segment,
                media=SessionInput(pcm16=pcm, frames=tuple(segment_frames)),
                config=config,
                expected_output=expected_output(settings, segment, job.request),
            )
        )
    return works


def decoded_soundtrack(path: Path, *, timeout_s: float) -> np.ndarray[Any, np.dtype[np.int16]]:
    decode = SoundtrackDecode(path, timeout_s=timeout_s)
    blocks = list(decode)
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)


def translated_chunks(results: list[SegmentResult]) -> list[TranslatedChunk]:
    chunks: list[TranslatedChunk] = []
    for result in sorted(results, key=lambda r: r.segment.index):
        for placed in result.utterances:
            chunks.append(
                TranslatedChunk(
                    index=len(chunks),
                    span=placed.span,
                    speech=placed.speech,
                    text=placed.reply.text,
                    audio=PcmInMemory(placed.reply.pcm) if placed.reply.pcm else NO_AUDIO,
                    transcript=placed.reply.transcript,
                )
            )
    return chunks


def _write_json(path: Path, document: dict[str, Any]) -> None:
    import json

    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
