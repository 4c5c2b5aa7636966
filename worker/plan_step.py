"""plan a job: fetch → probe → speech map → plan, then record its chunks as pending for the
dispatcher (worker/dispatch.py), which admits them to the queue by tenant fairness.

Idempotent: a job already planned only has its admitted chunks queued again, so a
duplicated or retried plan message costs nothing. Each phase commits on its own, so the
API shows the stage a job is in while the long work runs outside any transaction, and a
heartbeat marks the job alive meanwhile, so an idle fleet does not send the plan again.

Each start counts towards LTB_PLAN_MAX_ATTEMPTS: a permanent storage error fails the job
at once, a transient one is retried (the reaper sends the plan again) until the attempts
are used up, and a plan that keeps dying (OOM, native crash) ends as `plan_abandoned`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from ltb.db.engine import unit_of_work
from ltb.db.models import Job
from ltb.errors import LtbError
from ltb.lifecycle import finish_job
from ltb.outputs import check_video_outputs
from ltb.queue import FINALIZE_JOB, TRANSLATE_CHUNK
from ltb.states import (
    FINALIZE_STAGES,
    JOB_ACTIVE,
    DubMix,
    JobStage,
    JobStatus,
)
from ltb.storage import TRANSIENT_CODES, is_transient
from pipeline.analysis import SourceAnalysis, analyse_source, media_limits
from pipeline.estimate import TranslationRequest, plan_options
from pipeline.plan import ChunkPlan, Source, plan_chunks
from worker import repository as repo
from worker.context import WorkerContext
from worker.dispatch import dispatch
from worker.dispatch_repository import admitted_pending
from worker.fetch import SourceCache
from worker.heartbeat import JobHeartbeat
from worker.locks import source_lock

log = logging.getLogger("ltb.pipeline.plan")

# Errors that say "try again later" rather than "this job cannot be done".
TRANSIENT = TRANSIENT_CODES


@dataclass(frozen=True, slots=True)
class JobFacts:
    """The parts of a job row the steps need, read once."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    source_uri: str
    source_sha256: str | None
    request: TranslationRequest

    @classmethod
    def of(cls, job: Job) -> JobFacts:
        return cls(
            id=job.id,
            tenant_id=job.tenant_id,
            source_uri=job.source_uri,
            source_sha256=job.source_sha256,
            request=request_of(job),
        )


def request_of(job: Job) -> TranslationRequest:
    return TranslationRequest(
        target_lang=job.target_lang,
        outputs=tuple(job.outputs),
        visual_context=job.visual_context,
        source_lang=job.source_lang,
        voice=job.voice,
        dub_mix=DubMix(job.dub_mix),
        duck_db=job.duck_db,
    )


def source_cache(ctx: WorkerContext) -> SourceCache:
    return SourceCache(
        root=ctx.settings.scratch_dir,
        store=ctx.store,
        sessions=ctx.sessions,
        max_bytes=ctx.settings.max_source_bytes,
        cache_cap_bytes=ctx.settings.scratch_cache_max_bytes,
    )


def url_delivery(ctx: WorkerContext) -> bool:
    """Whether payloads may go by URL: only when the store can presign http(s) URLs."""
    return ctx.settings.payload_delivery != "inline" and ctx.store.presigns_http


def plan_job(ctx: WorkerContext, job_id: uuid.UUID) -> None:
    with unit_of_work(ctx.sessions) as session:
        job = repo.job(session, job_id)
        if job is None or job.status not in JOB_ACTIVE:
            return
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING
            job.started_at = job.started_at or repo.now()
        facts = JobFacts.of(job)
        already_planned = repo.is_planned(session, job_id)
        attempt = 0 if already_planned else repo.begin_planning(session, job_id)
    if already_planned:
        requeue_unfinished(ctx, job_id)
        return
    limit = ctx.settings.plan_max_attempts
    if attempt > limit:
        _fail(ctx, job_id, abandoned(limit))
        return
    try:
        with JobHeartbeat(ctx, job_id):
            analysis = _analyse(ctx, facts)
            # The source's name did not say sound only; its probe does: no video to dub.
            check_video_outputs(
                facts.request.outputs, has_video=analysis.info.has_video, source=facts.source_uri
            )
            _stage(ctx, job_id, JobStage.PLANNING)
            source = Source(
                duration_s=analysis.duration_s, speech=analysis.speech, video=analysis.info.video
            )
            options = plan_options(ctx.settings, facts.request, url_delivery=url_delivery(ctx))
            plan = plan_chunks(source, options)
    except LtbError as exc:
        if is_transient(exc) and attempt < limit:
            raise  # the reaper sends the plan again once storage answers
        if is_transient(exc):
            exc = LtbError(f"{exc.message} (gave up after {attempt} attempts)", code=exc.code)
        _fail(ctx, job_id, exc)
        return
    except Exception as exc:
        log.exception("planning job %s failed unexpectedly", job_id)
        _fail(
            ctx,
            job_id,
            LtbError(
                f"planning failed unexpectedly ({type(exc).__name__}); see the worker log",
                code="internal_error",
            ),
        )
        return
    queued = _record_plan(ctx, facts, analysis, plan)
    for task, target in queued:
        ctx.queue.send_task(task, args=[str(target)])
    dispatch(ctx)


def _analyse(ctx: WorkerContext, facts: JobFacts) -> SourceAnalysis:
    """The source's probe and speech map: from the cache when any job analysed it before
    (without fetching it again), otherwise fetched and analysed, once per source."""
    _stage(ctx, facts.id, JobStage.FETCHING)
    cache = source_cache(ctx)
    cached = _cached(ctx, facts, cache.known(tenant_id=facts.tenant_id, uri=facts.source_uri))
    if cached is not None:
        return cached
    with source_lock(ctx, facts.tenant_id, facts.source_uri):
        cached = _cached(ctx, facts, cache.known(tenant_id=facts.tenant_id, uri=facts.source_uri))
        if cached is not None:
            return cached  # another target of the same source analysed it while we waited
        path, sha = cache.local(tenant_id=facts.tenant_id, uri=facts.source_uri)
        _stage(ctx, facts.id, JobStage.PROBING)
        analysis = analyse_source(path, limits=media_limits(ctx.settings), name=facts.source_uri)
        with unit_of_work(ctx.sessions) as session:
            repo.cache_analysis(session, facts.tenant_id, sha, analysis)
            session.get_one(Job, facts.id).source_sha256 = sha
    return analysis


def _cached(ctx: WorkerContext, facts: JobFacts, sha: str | None) -> SourceAnalysis | None:
    if sha is None:
        return None
    with unit_of_work(ctx.sessions) as session:
        cached = repo.cached_analysis(session, facts.tenant_id, sha)
        if cached is not None:
            session.get_one(Job, facts.id).source_sha256 = sha
    return cached


def _record_plan(
    ctx: WorkerContext, facts: JobFacts, analysis: SourceAnalysis, plan: ChunkPlan
) -> list[tuple[str, uuid.UUID]]:
    """Writes the chunks and the estimate; returns the tasks to send once committed."""
    table = ctx.prices.current()
    estimate = plan.estimate
    cost = table.cost(ctx.settings.model, estimate)
    with unit_of_work(ctx.sessions) as session:
        job = session.get_one(Job, facts.id, with_for_update=True)
        if job.status != JobStatus.RUNNING or repo.is_planned(session, job.id):
            return []  # cancelled meanwhile, or planned by a twin of this task
        rows = [repo.row_from_planned(chunk, job=job) for chunk in plan.chunks]
        session.add_all(rows)
        job.timeline_s = analysis.duration_s
        job.chunks_total = plan.requests
        job.chunks_done = 0
        job.est_input_tokens = estimate.input_tokens
        job.est_output_tokens = estimate.output_tokens
        job.est_cost = cost.amount
        job.currency = cost.currency
        job.price_table = cost.price_table
        job.warnings = [*analysis.warnings, *plan.warnings]
        refusal = _budget_refusal(job, estimate.input_tokens, cost.amount)
        if job.estimate_only:
            job.stage = None
            finish_job(session, job, status=JobStatus.ESTIMATED, deliver=ctx.deliver_webhook)
            return []
        if refusal:
            # No chunk is left behind a refused plan: a retry then plans again, and the
            # budget is checked again, instead of queueing chunks nobody checked.
            for row in rows:
                session.expunge(row)
            finish_job(
                session,
                job,
                status=JobStatus.FAILED,
                error=("budget_exceeded", refusal),
                deliver=ctx.deliver_webhook,
            )
            return []
        job.stage = JobStage.TRANSLATING
        job.progress_at = repo.now()
        session.flush()
        if plan.no_speech:
            return [(FINALIZE_JOB, job.id)]
        return []  # the chunks wait, pending, for the dispatcher's fair turn


def _budget_refusal(job: Job, input_tokens: int, cost: Decimal) -> str | None:
    if job.budget_max_input_tokens is not None and input_tokens > job.budget_max_input_tokens:
        return (
            f"the estimate is {input_tokens:,} input tokens; the budget allows "
            f"{job.budget_max_input_tokens:,}. Nothing was sent."
        )
    if job.budget_max_cost is not None and cost > job.budget_max_cost:
        return f"the estimate is {cost:.4f} {job.currency}; the budget allows {job.budget_max_cost}. Nothing was sent."
    return None


def abandoned(limit: int) -> LtbError:
    return LtbError(
        f"planning started {limit} times without finishing (the worker died, or storage "
        "kept failing); see the worker log",
        code="plan_abandoned",
    )


def requeue_unfinished(ctx: WorkerContext, job_id: uuid.UUID) -> None:
    """Queues a planned job's admitted chunks again, or its finalize if every chunk is done.

    A job a finalize holds (assembling, publishing) keeps its stage: the finalize owns it,
    and the reaper takes it back if that finalize dies."""
    with unit_of_work(ctx.sessions) as session:
        job = session.get_one(Job, job_id)
        if job.status != JobStatus.RUNNING or job.stage in FINALIZE_STAGES:
            return
        if job.stage != JobStage.TRANSLATING:
            job.stage = JobStage.TRANSLATING  # a twin plan left a planning stage behind
        pending = repo.pending_chunk_ids(session, job_id)
        all_done = job.chunks_done >= job.chunks_total and not pending
        admitted = admitted_pending(session, job_id)
    if all_done:
        ctx.queue.send_task(FINALIZE_JOB, args=[str(job_id)])
    for chunk_id in admitted:
        ctx.queue.send_task(TRANSLATE_CHUNK, args=[str(chunk_id)])
    dispatch(ctx)  # those not admitted yet wait for their fair turn


def _stage(ctx: WorkerContext, job_id: uuid.UUID, stage: JobStage) -> None:
    """Enters a planning stage, unless a twin of this plan already took the job further."""
    with unit_of_work(ctx.sessions) as session:
        repo.enter_plan_stage(session, job_id, stage)


def _fail(ctx: WorkerContext, job_id: uuid.UUID, error: LtbError) -> None:
    log.info("job %s failed: %s", job_id, error.code)
    with unit_of_work(ctx.sessions) as session:
        repo.fail_job(
            session, job_id, code=error.code, message=error.message, deliver=ctx.deliver_webhook
        )
