"""finalize a job: assemble its outputs from the chunk checkpoints, publish them under
its output prefix with the manifest, mark it succeeded, and remove its work objects.
Output keys are fixed by the job, so finalizing twice writes the same files.

Each start counts towards LTB_FINALIZE_MAX_ATTEMPTS, and a heartbeat marks the job alive
while it runs: a finalize that dies is taken back by the reaper after a silence, and one
that keeps dying (OOM, native crash) ends as `finalize_abandoned`. A permanent storage
error fails the job at once; a missing output bucket as `output_bucket_missing`.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ltb.db.engine import unit_of_work
from ltb.db.models import Chunk, Job
from ltb.errors import LtbError
from ltb.lifecycle import finish_job
from ltb.outputs import MANIFEST_CONTENT_TYPE, MANIFEST_FILE, output_spec, revision_prefix
from ltb.states import ChunkStatus, DubMix, JobStage, JobStatus
from ltb.storage import ObjectRef, StorageError, is_transient
from ltb.timeline import Span
from ltb.usage import TokenCounts
from pipeline.analysis import SourceAnalysis
from pipeline.assemble import (
    DubSettings,
    MixSettings,
    SourceMedia,
    TranslatedChunk,
    assemble_outputs,
)
from pipeline.dub.chunk_audio import DubAudio
from pipeline.manifest import ChunkOutcome, build_manifest, chunk_reports
from pipeline.subtitles import Cue
from worker import repository as repo
from worker import revision_repository as revisions
from worker import usage_repository
from worker.cleanup import remove_work
from worker.context import WorkerContext
from worker.dub_audio import stored_dubs
from worker.heartbeat import JobHeartbeat
from worker.plan_step import source_cache

log = logging.getLogger("ltb.worker.finalize")


def finalize_job(ctx: WorkerContext, job_id: uuid.UUID) -> None:
    limit = ctx.settings.finalize_max_attempts
    with unit_of_work(ctx.sessions) as session:
        attempt = repo.begin_finalizing(session, job_id)
        if attempt is None:
            return
        if attempt > limit:
            error = abandoned(limit)
            repo.fail_job(
                session, job_id, code=error.code, message=error.message, deliver=ctx.deliver_webhook
            )
            return
        job = session.get_one(Job, job_id)
        analysis = repo.cached_analysis(session, job.tenant_id, job.source_sha256 or "")
        chunks = repo.chunks_of(session, job_id)
        records = usage_repository.usage_records(session, job_id)
    try:
        if analysis is None:
            raise LtbError("the source analysis is missing from the cache", code="internal_error")
        with JobHeartbeat(ctx, job_id):
            manifest, cues = publish_outputs(ctx, job, analysis, chunks, records)
    except LtbError as exc:
        if is_transient(exc) and attempt < limit:
            _hand_back(ctx, job_id)
            raise
        if is_transient(exc):
            exc = LtbError(f"{exc.message} (gave up after {attempt} attempts)", code=exc.code)
        _fail(ctx, job_id, exc)
        return
    except Exception as exc:
        log.exception("finalizing job %s failed unexpectedly", job_id)
        _fail(
            ctx,
            job_id,
            LtbError(
                f"assembly failed unexpectedly ({type(exc).__name__}); see the worker log",
                code="internal_error",
            ),
        )
        return
    with unit_of_work(ctx.sessions) as session:
        row = session.get_one(Job, job_id)
        row.warnings = manifest["warnings"]
        revisions.store_cues(session, job_id, revision=0, cues=cues)
        finish_job(session, row, status=JobStatus.SUCCEEDED, deliver=ctx.deliver_webhook)
    log.info("job %s succeeded", job_id)
    remove_work(ctx, job_id)


def abandoned(limit: int) -> LtbError:
    return LtbError(
        f"finalizing started {limit} times without finishing (the worker died, or storage "
        "kept failing); see the worker log",
        code="finalize_abandoned",
    )


def _fail(ctx: WorkerContext, job_id: uuid.UUID, error: LtbError) -> None:
    with unit_of_work(ctx.sessions) as session:
        repo.fail_job(
            session, job_id, code=error.code, message=error.message, deliver=ctx.deliver_webhook
        )


def _hand_back(ctx: WorkerContext, job_id: uuid.UUID) -> None:
    """Lets the reaper finalize the job again soon, after a transient failure."""
    with unit_of_work(ctx.sessions) as session:
        # Not progress: the stuck clock keeps running while a finalize fails.
        repo.set_stage(session, job_id, JobStage.TRANSLATING, progress=False)


def publish_outputs(
    ctx: WorkerContext,
    job: Job,
    analysis: SourceAnalysis,
    chunks: list[Chunk],
    records: list[Any],
    *,
    revision: int = 0,
    cues: Sequence[Cue] | None = None,
) -> tuple[dict[str, Any], list[Cue]]:
    """Assembles every output and the manifest under the revision's prefix (revision 0:
    the job's output prefix); `cues` replace the built ones for the kinds written from
    cues (a cue edit). Returns the manifest and the cues the subtitles were written from."""
    prefix = revision_prefix(job.output_prefix, revision)
    scratch = Path(tempfile.mkdtemp(prefix=f"finalize-{job.id}-", dir=_scratch(ctx)))
    try:
        done = [c for c in chunks if c.status == ChunkStatus.DONE]
        dubs = stored_dubs(ctx.sessions, ctx.store, job.id, done)
        translated = [_translated(c, dubs[c.id]) for c in done]
        work_dir = scratch / "work"
        work_dir.mkdir()
        assembled = assemble_outputs(
            translated,
            outputs=job.outputs,
            target_lang=job.target_lang,
            timeline_end_s=analysis.duration_s,
            out_dir=scratch,
            no_speech=job.chunks_total == 0,
            dub=DubSettings(
                max_speed=ctx.settings.max_speed,
                loudness_lufs=ctx.settings.loudness_lufs,
                true_peak_dbtp=ctx.settings.true_peak_dbtp,
            ),
            work_dir=work_dir,
            mix=MixSettings(mode=DubMix(job.dub_mix), duck_db=job.duck_db),
            source=_source(ctx, job, analysis),
            cues=cues,
        )
        paths, subtitles, dub = assembled.paths, assembled.subtitles, assembled.dub
        no_speech = job.chunks_total == 0
        warnings = [*job.warnings, *assembled.warnings]
        if revision == 0:  # a later revision is written for a job that has already succeeded
            with unit_of_work(ctx.sessions) as session:
                repo.set_stage(session, job.id, JobStage.PUBLISHING)
        for kind, path in paths.items():
            with _output_bucket(job.output_prefix):
                ctx.store.upload_file(
                    path,
                    ObjectRef.parse(prefix + path.name),
                    content_type=output_spec(kind).content_type,
                )
        table = ctx.prices.by_id(job.price_table) if job.price_table else ctx.prices.current()
        manifest = build_manifest(
            job=_parameters(job),
            analysis=analysis,
            chunks=chunk_reports(_outcome(c) for c in chunks),
            records=records,
            # The plan's estimate: the chunks it made, not the halves of later splits.
            estimate=TokenCounts.sum(
                TokenCounts.of(c, prefix="est_") for c in chunks if c.parent_idx is None
            ),
            price_table=table,
            model=ctx.client.model,
            provider=job.provider,
            outcome="no_speech" if no_speech else "ok",
            outputs={kind: path.name for kind, path in paths.items()},
            warnings=warnings,
            subtitles=subtitles,
            dub=dub,
            mix=assembled.mix,
        )
        with _output_bucket(job.output_prefix):
            ctx.store.put_bytes(
                ObjectRef.parse(prefix + MANIFEST_FILE),
                (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode(),
                content_type=MANIFEST_CONTENT_TYPE,
            )
        return manifest, assembled.cues
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def _output_bucket(output_prefix: str) -> Iterator[None]:
    """Names a missing output bucket as such: it is a setting to fix, not a missing source."""
    try:
        yield
    except StorageError as exc:
        if exc.reason != "bucket_missing":
            raise
        bucket = ObjectRef.parse(output_prefix).bucket
        raise LtbError(
            f"the output bucket s3://{bucket} does not exist; create it or change "
            "LTB_OUTPUT_BUCKET (or the job's output_prefix)",
            code="output_bucket_missing",
        ) from exc


def _source(ctx: WorkerContext, job: Job, analysis: SourceAnalysis) -> SourceMedia:
    """The source for the mix and the videos, fetched (or found in this machine's cache)
    only when a writer asks for it."""

    def local() -> Path:
        path, _ = source_cache(ctx).local(
            tenant_id=job.tenant_id, uri=job.source_uri, sha256=job.source_sha256
        )
        return path

    video = analysis.info.video
    return SourceMedia(
        path=local,
        lang=job.source_lang,
        frame_size=(video.width, video.height) if video else None,
    )


def _scratch(ctx: WorkerContext) -> Path:
    ctx.settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    return ctx.settings.scratch_dir


def _translated(chunk: Chunk, audio: DubAudio) -> TranslatedChunk:
    return TranslatedChunk(
        index=chunk.idx,
        span=Span(chunk.start_s, chunk.end_s),
        speech=tuple(Span(a, b) for a, b in chunk.speech),
        text=chunk.result_text or "",
        audio=audio,
    )


def _outcome(chunk: Chunk) -> ChunkOutcome:
    return ChunkOutcome(
        chunk=repo.planned_from_row(chunk),
        status=ChunkStatus(chunk.status),
        finish_reason=chunk.finish_reason,
        parent_index=chunk.parent_idx,
    )


def _parameters(job: Job) -> dict[str, Any]:
    return {
        "job_id": str(job.id),
        "tenant_id": str(job.tenant_id),
        "batch_id": str(job.batch_id) if job.batch_id else None,
        "source": job.source_uri,
        "source_sha256": job.source_sha256,
        "target_lang": job.target_lang,
        "source_lang": job.source_lang,
        "outputs": list(job.outputs),
        "voice": job.voice,
        "dub_mix": job.dub_mix,
        "duck_db": job.duck_db,
        "visual_context": "on" if job.visual_context else "off",
        "output_prefix": job.output_prefix,
        "labels": job.labels,
        "budget": {
            "max_input_tokens": job.budget_max_input_tokens,
            "max_cost": float(job.budget_max_cost) if job.budget_max_cost is not None else None,
        },
        "price_table": job.price_table,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
    }
