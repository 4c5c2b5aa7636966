"""One file's whole journey on one machine (`ltb translate`):
probe → speech map → plan → extract → translate (concurrently) → assemble → manifest.

The service runs the same steps as separate tasks; this runner keeps them in one
process, with threads for the chunks and an in-process rate limiter.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ltb.errors import LtbError
from ltb.outputs import MANIFEST_FILE, check_video_outputs, spoken
from ltb.pricing import PriceTable
from ltb.settings import Settings
from ltb.states import ChunkStatus
from pipeline.analysis import SourceAnalysis, analyse_source, media_limits
from pipeline.assemble import (
    DubSettings,
    MixSettings,
    SourceMedia,
    TranslatedChunk,
    assemble_outputs,
)
from pipeline.deliver.mix import MixReport
from pipeline.dub import DubReport
from pipeline.dub.chunk_audio import NO_AUDIO, DubAudio, PcmFile
from pipeline.estimate import TranslationRequest, plan_options
from pipeline.extract import extract_chunk
from pipeline.manifest import ChunkOutcome, build_manifest, chunk_reports
from pipeline.plan import ChunkPlan, PlannedChunk, PlanOptions, Source, plan_chunks, split_chunk
from pipeline.provider import ProviderClient
from pipeline.ratelimit import RateLimiter
from pipeline.translate import ChunkResult, RetryPolicy, chunk_work, translate_chunk
from pipeline.usage_records import JsonlUsageLog


class RunObserver(Protocol):
    def planned(self, plan: ChunkPlan) -> None: ...
    def chunk_started(self, chunk: PlannedChunk) -> None: ...
    def chunk_finished(self, chunk: PlannedChunk, status: ChunkStatus) -> None: ...
    def chunk_split(
        self, chunk: PlannedChunk, halves: tuple[PlannedChunk, PlannedChunk]
    ) -> None: ...
    def assembling(self) -> None: ...


class _Silent:
    def planned(self, plan: ChunkPlan) -> None:
        pass

    def chunk_started(self, chunk: PlannedChunk) -> None:
        pass

    def chunk_finished(self, chunk: PlannedChunk, status: ChunkStatus) -> None:
        pass

    def chunk_split(self, chunk: PlannedChunk, halves: tuple[PlannedChunk, PlannedChunk]) -> None:
        pass

    def assembling(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class LocalJob:
    source: Path
    request: TranslationRequest
    out_dir: Path
    max_speed: float = 1.25
    concurrency: int = 4


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: str  # ok | no_speech | failed
    manifest: dict[str, Any]
    manifest_path: Path
    outputs: dict[str, Path]
    error: LtbError | None = None


@dataclass
class _Books:
    """What the run knows of its chunks as they come back."""

    # Where each reply's dub is spilled as it arrives: a long file's dub never sits in
    # memory whole; assembly reads it back one chunk at a time.
    dub_dir: Path
    outcomes: dict[int, ChunkOutcome] = field(default_factory=dict)
    translated: dict[int, TranslatedChunk] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def translate_file(
    job: LocalJob,
    *,
    settings: Settings,
    client: ProviderClient,
    limiter: RateLimiter,
    price_table: PriceTable,
    observer: RunObserver | None = None,
) -> RunResult:
    """Translates one local file into the requested outputs under `job.out_dir`."""
    watch = observer or _Silent()
    analysis = analyse_source(job.source, limits=media_limits(settings), name=str(job.source))
    # Refused before anything is sent: a dubbed video needs a picture to copy.
    check_video_outputs(
        job.request.outputs, has_video=analysis.info.has_video, source=job.source.name
    )
    options = plan_options(settings, job.request, url_delivery=False)
    source = Source(
        duration_s=analysis.duration_s, speech=analysis.speech, video=analysis.info.video
    )
    plan = plan_chunks(source, options)
    watch.planned(plan)

    job.out_dir.mkdir(parents=True, exist_ok=True)
    work_dir = job.out_dir / ".ltb"
    work_dir.mkdir(exist_ok=True)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    log = JsonlUsageLog(work_dir / f"usage-{run_id}.jsonl", model=client.model)
    books = _Books(
        dub_dir=work_dir / f"dub-{run_id}", warnings=[*analysis.warnings, *plan.warnings]
    )

    runner = _ChunkRunner(job, settings, client, limiter, log, work_dir / "payloads")
    error: LtbError | None = None
    try:
        _translate_all(plan, source, options, runner, books, watch, concurrency=job.concurrency)
    except LtbError as exc:
        error = exc
    finally:
        shutil.rmtree(work_dir / "payloads", ignore_errors=True)

    outputs: dict[str, Path] = {}
    subtitles: dict[str, Any] | None = None
    dub: DubReport | None = None
    mix: MixReport | None = None
    try:
        if error is None:
            watch.assembling()
            outputs, subtitles, dub, mix = _assemble(
                job, settings, analysis, books, no_speech=plan.no_speech
            )
    finally:
        shutil.rmtree(books.dub_dir, ignore_errors=True)
    outcome = "failed" if error else ("no_speech" if plan.no_speech else "ok")
    manifest = build_manifest(
        job=_job_parameters(job, settings, client, price_table, analysis),
        analysis=analysis,
        chunks=chunk_reports(books.outcomes.values()),
        records=log.records(),
        estimate=plan.estimate,
        price_table=price_table,
        model=client.model,
        provider=client.provider,
        outcome=outcome,
        outputs={kind: path.name for kind, path in outputs.items()},
        warnings=books.warnings,
        subtitles=subtitles,
        dub=dub,
        error=error.as_dict() if error else None,
        mix=mix,
    )
    manifest_path = job.out_dir / MANIFEST_FILE
    _write_json(manifest_path, manifest)
    return RunResult(outcome, manifest, manifest_path, outputs, error)


class _ChunkRunner:
    """extract → translate for one chunk, on a worker thread."""

    def __init__(
        self,
        job: LocalJob,
        settings: Settings,
        client: ProviderClient,
        limiter: RateLimiter,
        log: JsonlUsageLog,
        payload_dir: Path,
    ) -> None:
        self.job, self.client, self.limiter, self.log = job, client, limiter, log
        self.payload_dir = payload_dir
        self.policy = RetryPolicy(
            max_attempts=settings.provider_max_attempts,
            base_s=settings.provider_backoff_base_s,
            max_s=settings.provider_backoff_max_s,
            max_retry_after_s=settings.provider_retry_after_max_s,
        )

    def __call__(self, chunk: PlannedChunk) -> ChunkResult:
        payload = extract_chunk(
            self.job.source,
            chunk.span,
            self.payload_dir,
            video=chunk.video,
            inline_required=True,
            name=str(self.job.source),
        )
        try:
            work = chunk_work(chunk, payload, self.job.request, media=payload.data_uri())
            return translate_chunk(
                work,
                client=self.client,
                limiter=self.limiter,
                recorder=self.log,
                policy=self.policy,
                rng=random.Random(),
            )
        finally:
            payload.path.unlink(missing_ok=True)


def _translate_all(
    plan: ChunkPlan,
    source: Source,
    options: PlanOptions,
    runner: Callable[[PlannedChunk], ChunkResult],
    books: _Books,
    watch: RunObserver,
    *,
    concurrency: int,
) -> None:
    next_index = len(plan.chunks)
    for chunk in plan.chunks:
        if chunk.silent:
            books.outcomes[chunk.index] = ChunkOutcome(chunk, ChunkStatus.SILENT)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="chunk") as pool:
        pending: dict[Future[ChunkResult], PlannedChunk] = {}

        def submit(chunk: PlannedChunk, parent_index: int | None = None) -> None:
            watch.chunk_started(chunk)
            books.outcomes[chunk.index] = ChunkOutcome(
                chunk, ChunkStatus.PENDING, parent_index=parent_index
            )
            pending[pool.submit(runner, chunk)] = chunk

        for chunk in plan.chunks:
            if not chunk.silent:
                submit(chunk)
        failure: LtbError | None = None
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = pending.pop(future)
                try:
                    result = future.result()
                except LtbError as exc:
                    _settle(books, chunk, ChunkStatus.FAILED)
                    watch.chunk_finished(chunk, ChunkStatus.FAILED)
                    if failure is None:
                        failure = exc
                        # Queued chunks never start; chunks in flight finish and are recorded.
                        for queued in list(pending):
                            if queued.cancel():
                                never_started = pending.pop(queued)
                                _settle(books, never_started, ChunkStatus.CANCELLED)
                    continue
                reply = result.reply
                if reply.truncated:
                    halves = split_chunk(chunk, source, options, first_index=next_index)
                    if halves is None:
                        _settle(books, chunk, ChunkStatus.FAILED, reply.finish_reason)
                        failure = failure or LtbError(
                            f"the answer for {chunk.span.start_s:.1f}-{chunk.span.end_s:.1f} s is "
                            "cut off at the provider's output limit even for the shortest chunk",
                            code="output_truncated",
                        )
                        continue
                    next_index += 2
                    _settle(books, chunk, ChunkStatus.SPLIT, reply.finish_reason)
                    books.warnings.append(
                        f"output_truncated: chunk {chunk.index} hit the output limit and was redone "
                        f"as chunks {halves[0].index} and {halves[1].index}"
                    )
                    watch.chunk_split(chunk, halves)
                    if failure is None:
                        for half in halves:
                            submit(half, parent_index=chunk.index)
                    continue
                _settle(books, chunk, ChunkStatus.DONE, reply.finish_reason)
                books.translated[chunk.index] = TranslatedChunk(
                    index=chunk.index,
                    span=chunk.span,
                    speech=chunk.speech,
                    text=reply.text,
                    audio=_spilled(books, chunk.index, reply.pcm),
                )
                watch.chunk_finished(chunk, ChunkStatus.DONE)
        if failure is not None:
            raise failure


def _spilled(books: _Books, index: int, pcm: bytes) -> DubAudio:
    return PcmFile.spill(books.dub_dir / f"chunk-{index}.pcm", pcm) if pcm else NO_AUDIO


def _settle(
    books: _Books, chunk: PlannedChunk, status: ChunkStatus, finish_reason: str | None = None
) -> None:
    """Records how a chunk ended, keeping the half's link to the chunk it was split from."""
    parent = books.outcomes[chunk.index].parent_index if chunk.index in books.outcomes else None
    books.outcomes[chunk.index] = ChunkOutcome(chunk, status, finish_reason, parent_index=parent)


def _assemble(
    job: LocalJob, settings: Settings, analysis: SourceAnalysis, books: _Books, *, no_speech: bool
) -> tuple[dict[str, Path], dict[str, Any] | None, DubReport | None, MixReport | None]:
    video = analysis.info.video
    work_dir = job.out_dir / ".ltb" / "assembly"
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        assembled = assemble_outputs(
            list(books.translated.values()),
            outputs=job.request.outputs,
            target_lang=job.request.target_lang,
            timeline_end_s=analysis.duration_s,
            out_dir=job.out_dir,
            no_speech=no_speech,
            dub=DubSettings(
                max_speed=job.max_speed,
                loudness_lufs=settings.loudness_lufs,
                true_peak_dbtp=settings.true_peak_dbtp,
            ),
            work_dir=work_dir,
            mix=MixSettings(mode=job.request.dub_mix, duck_db=job.request.duck_db),
            source=SourceMedia(
                path=lambda: job.source,
                lang=job.request.source_lang,
                frame_size=(video.width, video.height) if video else None,
            ),
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    books.warnings.extend(assembled.warnings)
    return assembled.paths, assembled.subtitles, assembled.dub, assembled.mix


def _job_parameters(
    job: LocalJob,
    settings: Settings,
    client: ProviderClient,
    price_table: PriceTable,
    analysis: SourceAnalysis,
) -> dict[str, Any]:
    request = job.request
    return {
        "source": job.source.name,
        "source_sha256": _sha256(job.source),
        "target_lang": request.target_lang,
        "source_lang": request.source_lang,
        "outputs": list(request.outputs),
        "voice": request.voice if spoken(request.outputs) else None,
        "dub_mix": request.dub_mix.value,
        "duck_db": request.duck_db,
        "visual_context": "on" if request.visual_context else "off",
        "max_speed": job.max_speed,
        "concurrency": job.concurrency,
        "model": client.model,
        "provider_base_url": client.base_url,
        "price_table": price_table.id,
        "input_safety_margin": settings.input_safety_margin,
        "output_safety_margin": settings.output_safety_margin,
    }


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _write_json(path: Path, document: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
