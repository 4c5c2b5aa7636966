"""translate one chunk: claim it → extract its payload → one streaming request (retried
here, rate-limited fleet-wide, recorded before it is made) → checkpoint → count it.

A chunk that is done is never requested again: the claim only takes pending chunks, or
running ones whose holder stopped renewing its lease. A reply that has arrived is never
requested again either: nothing but the database write that closes the chunk (text and
dub audio together) stands between receiving it and the chunk being done, and that write
is retried here. Transient faults before the request are retried here too, with backoff;
only a worker that dies leaves its chunk to the reaper.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltb.db.engine import unit_of_work
from ltb.db.models import Chunk, ChunkAudio, Job
from ltb.errors import LtbError
from ltb.outputs import spoken
from ltb.queue import FINALIZE_JOB, TRANSLATE_CHUNK
from ltb.states import ChunkStatus, UsagePurpose
from ltb.storage import ObjectRef
from pipeline.estimate import plan_options
from pipeline.extract import ChunkPayload, extract_chunk
from pipeline.plan import PlannedChunk, Source, split_chunk
from pipeline.translate import ChunkResult, ChunkWork, chunk_work, translate_chunk
from pipeline.usage_records import UsageRecorder
from worker import repository as repo
from worker import shutdown, usage_repository
from worker.context import WorkerContext
from worker.plan_step import JobFacts, request_of, source_cache, url_delivery
from worker.records import DbUsageRecorder
from worker.retrying import is_transient, retrying, task_policy

log = logging.getLogger("ltb.worker.chunk")

# What an upload into a bucket that does not exist fails with (S3 answers NoSuchBucket).
_MISSING = frozenset({"source_not_found", "output_bucket_missing"})


@dataclass(frozen=True, slots=True)
class Claimed:
    chunk_id: uuid.UUID
    planned: PlannedChunk
    job: JobFacts
    work_prefix: str
    dubbed: bool


def run_chunk(ctx: WorkerContext, chunk_id: uuid.UUID) -> None:
    if shutdown.terminating():
        # Taken from the queue just as this worker was told to stop: leave it to another.
        ctx.queue.send_task(TRANSLATE_CHUNK, args=[str(chunk_id)])
        return
    policy = task_policy(ctx.settings)
    claimed = retrying(lambda: _claim(ctx, chunk_id), policy, what=f"claiming chunk {chunk_id}")
    if claimed is None:
        return
    with _LeaseKeeper(ctx, chunk_id):
        try:
            with shutdown.interruptible():
                result = _translate(ctx, claimed)
        except shutdown.GraceOver:
            _hand_back(ctx, claimed)
            return
        except LtbError as exc:
            if is_transient(exc):
                _expire(ctx, claimed)
                raise  # still failing after the retries: the reaper hands the chunk out again
            _give_up(ctx, claimed, exc)
            return
        # The reply is paid for: from here on only its own writes are retried, never the request.
        if result.reply.truncated:
            retrying(lambda: _split(ctx, claimed, result), policy, what="splitting a chunk")
        else:
            retrying(lambda: _checkpoint(ctx, claimed, result), policy, what="closing a chunk")


def _claim(ctx: WorkerContext, chunk_id: uuid.UUID) -> Claimed | None:
    with unit_of_work(ctx.sessions) as session:
        chunk = repo.claim_chunk(
            session, chunk_id, owner=ctx.owner, lease_s=ctx.settings.chunk_lease_s
        )
        if chunk is None:
            return None
        job = session.get_one(Job, chunk.job_id)
        return Claimed(
            chunk_id=chunk.id,
            planned=repo.planned_from_row(chunk),
            job=JobFacts.of(job),
            work_prefix=f"{ctx.settings.work_prefix.rstrip('/')}/{job.id}/",
            dubbed=spoken(job.outputs),
        )


def _translate(
    ctx: WorkerContext, claimed: Claimed, *, purpose: UsagePurpose = UsagePurpose.TRANSLATE
) -> ChunkResult:
    job = claimed.job
    scratch = ctx.settings.scratch_dir / "payloads" / uuid.uuid4().hex
    try:
        # Only the preparation is retried as a whole: the request below has its own retries,
        # and a reply it received must never be asked for again.
        work = retrying(
            lambda: _prepare(ctx, claimed, scratch),
            task_policy(ctx.settings),
            what=f"preparing chunk {claimed.planned.index} of job {job.id}",
        )
        recorder = _DurableRecorder(
            DbUsageRecorder(
                ctx.sessions,
                tenant_id=job.tenant_id,
                job_id=job.id,
                model=ctx.client.model,
                price_table=ctx.prices.current(),
                purpose=purpose,
            ),
            ctx,
        )
        return translate_chunk(
            work, client=ctx.client, limiter=ctx.limiter, recorder=recorder, policy=ctx.policy
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _prepare(ctx: WorkerContext, claimed: Claimed, scratch: Path) -> ChunkWork:
    """The chunk's payload, cut from exactly the bytes that were planned."""
    job, planned = claimed.job, claimed.planned
    source = source_cache(ctx).planned(
        tenant_id=job.tenant_id, uri=job.source_uri, sha256=job.source_sha256
    )
    shutil.rmtree(scratch, ignore_errors=True)  # a retry starts clean
    by_url = url_delivery(ctx) and (
        planned.delivery == "url" or ctx.settings.payload_delivery == "url"
    )
    payload = extract_chunk(
        source,
        planned.span,
        scratch,
        video=planned.video,
        inline_required=not by_url,
        name=job.source_uri,
    )
    return chunk_work(
        planned, payload, job.request, media=_media(ctx, claimed, payload, by_url=by_url)
    )


def _media(ctx: WorkerContext, claimed: Claimed, payload: ChunkPayload, *, by_url: bool) -> str:
    if not by_url and payload.fits_inline:
        return payload.data_uri()
    # Too big for a data URI (or URL delivery is configured): the provider fetches it.
    ref = ObjectRef.parse(
        f"{claimed.work_prefix}payload-{claimed.planned.index}{payload.path.suffix}"
    )
    try:
        ctx.store.upload_file(payload.path, ref, content_type=payload.mime)
    except LtbError as exc:
        if exc.code in _MISSING:
            raise LtbError(
                f"the bucket of the work prefix {ctx.settings.work_prefix} does not exist; "
                "create it or set LTB_WORK_PREFIX",
                code="output_bucket_missing",
            ) from exc
        raise
    return ctx.store.presign_get(ref, expires_s=ctx.settings.presign_expiry_s)


def _checkpoint(ctx: WorkerContext, claimed: Claimed, result: ChunkResult) -> None:
    """Closes the chunk with its reply, text and dub audio in one transaction."""
    reply = result.reply
    last = False
    with unit_of_work(ctx.sessions) as session:
        finished = repo.finish_chunk(
            session,
            claimed.chunk_id,
            owner=ctx.owner,
            or_pending=True,
            status=ChunkStatus.DONE,
            result_text=reply.text,
            finish_reason=reply.finish_reason,
        )
        if finished:
            if reply.pcm:
                session.merge(ChunkAudio(chunk_id=claimed.chunk_id, pcm=reply.pcm))
            done, total = repo.count_chunk_done(session, claimed.job.id)
            last = done >= total
        else:
            log.warning(
                "chunk %s of job %s lost its lease before its reply was stored",
                claimed.planned.index,
                claimed.job.id,
            )
    if last:
        ctx.queue.send_task(FINALIZE_JOB, args=[str(claimed.job.id)])


def _split(ctx: WorkerContext, claimed: Claimed, result: ChunkResult) -> None:
    """A truncated answer: cut the chunk in two at a pause; the dispatcher admits both halves."""
    job, planned = claimed.job, claimed.planned
    with unit_of_work(ctx.sessions) as session:
        analysis = repo.cached_analysis(session, job.tenant_id, job.source_sha256 or "")
        job_row = session.get_one(Job, job.id, with_for_update=True)
        if analysis is None:
            raise LtbError("the source analysis is missing from the cache", code="internal_error")
        source = Source(
            duration_s=analysis.duration_s, speech=analysis.speech, video=analysis.info.video
        )
        options = plan_options(ctx.settings, request_of(job_row), url_delivery=url_delivery(ctx))
        halves = split_chunk(
            planned, source, options, first_index=repo.next_chunk_index(session, job.id)
        )
        if halves is None:
            repo.finish_chunk(
                session,
                claimed.chunk_id,
                owner=ctx.owner,
                status=ChunkStatus.FAILED,
                finish_reason="length",
            )
            repo.fail_job(
                session,
                job.id,
                deliver=ctx.deliver_webhook,
                code="output_truncated",
                message=f"the answer for {planned.span.start_s:.1f}-{planned.span.end_s:.1f} s is cut off at the "
                "provider's output limit even for the shortest chunk",
            )
            return
        if not repo.finish_chunk(
            session,
            claimed.chunk_id,
            owner=ctx.owner,
            status=ChunkStatus.SPLIT,
            finish_reason="length",
        ):
            return
        rows = [
            repo.row_from_planned(half, job=job_row, parent_idx=planned.index) for half in halves
        ]
        session.add_all(rows)
        job_row.chunks_total += 1  # one leaf became two
        job_row.warnings = [
            *job_row.warnings,
            f"output_truncated: chunk {planned.index} hit the output limit and was redone as chunks "
            f"{halves[0].index} and {halves[1].index}",
        ]
    log.info(
        "chunk %s of job %s truncated (%s attempts); split",
        planned.index,
        job.id,
        len(result.attempts),
    )
    # The halves wait, pending, for the dispatcher that runs after this task (worker/tasks.py).


def _give_up(ctx: WorkerContext, claimed: Claimed, error: LtbError) -> None:
    log.warning("chunk %s of job %s failed: %s", claimed.planned.index, claimed.job.id, error.code)
    with unit_of_work(ctx.sessions) as session:
        repo.finish_chunk(
            session,
            claimed.chunk_id,
            owner=ctx.owner,
            status=ChunkStatus.FAILED,
            error_code=error.code,
            error_message=error.message,
        )
        repo.fail_job(
            session,
            claimed.job.id,
            code=error.code,
            message=error.message,
            deliver=ctx.deliver_webhook,
        )


def _hand_back(ctx: WorkerContext, claimed: Claimed) -> None:
    """Warm shutdown ran out of grace mid-request: the chunk goes back to pending at once,
    the cut request is booked at the most the provider could bill, and the chunk is sent
    to another worker."""
    log.info("chunk %s of job %s handed back at shutdown", claimed.planned.index, claimed.job.id)

    def release() -> None:
        with unit_of_work(ctx.sessions) as session:
            chunk = session.get(Chunk, claimed.chunk_id)
            if (
                chunk is None
                or chunk.lease_owner != ctx.owner
                or chunk.status != ChunkStatus.RUNNING
            ):
                return
            usage_repository.abandon_pending_records(
                session, chunk, dubbed=claimed.dubbed, price_table=ctx.prices.current()
            )
            repo.release_lease(session, claimed.chunk_id, owner=ctx.owner)

    retrying(release, task_policy(ctx.settings), what="handing a chunk back")
    ctx.queue.send_task(TRANSLATE_CHUNK, args=[str(claimed.chunk_id)])


def _expire(ctx: WorkerContext, claimed: Claimed) -> None:
    """Ends the lease now, so the next reaper sweep counts the claim and hands the chunk
    out again without waiting for the lease to run out."""
    try:
        with unit_of_work(ctx.sessions) as session:
            repo.expire_lease(session, claimed.chunk_id, owner=ctx.owner)
    except Exception:
        log.warning("could not end the lease of chunk %s", claimed.chunk_id, exc_info=True)


class _DurableRecorder:
    """Usage records whose writes ride out a dropped database connection: losing the
    record of a paid reply would lose the reply with it."""

    def __init__(self, inner: UsageRecorder, ctx: WorkerContext) -> None:
        self.inner = inner
        self.policy = task_policy(ctx.settings)

    def begin(self, **kwargs: Any) -> str:
        return retrying(lambda: self.inner.begin(**kwargs), self.policy, what="a usage record")

    def attach_request_id(self, record_id: str, request_id: str) -> None:
        retrying(
            lambda: self.inner.attach_request_id(record_id, request_id),
            self.policy,
            what="a usage record",
        )

    def complete(self, record_id: str, **kwargs: Any) -> None:
        retrying(
            lambda: self.inner.complete(record_id, **kwargs), self.policy, what="a usage record"
        )


class _LeaseKeeper:
    """Renews the chunk's lease while the work runs, so a slow stream is not mistaken for
    a dead worker; a killed worker stops renewing and the reaper takes the chunk back."""

    def __init__(self, ctx: WorkerContext, chunk_id: uuid.UUID) -> None:
        self.ctx, self.chunk_id = ctx, chunk_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"lease-{chunk_id}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        interval = max(1.0, self.ctx.settings.chunk_lease_s / 3)
        while not self.stopped.wait(interval):
            try:
                with unit_of_work(self.ctx.sessions) as session:
                    repo.renew_lease(
                        session,
                        self.chunk_id,
                        owner=self.ctx.owner,
                        lease_s=self.ctx.settings.chunk_lease_s,
                    )
            except Exception:
                log.warning("could not renew the lease of chunk %s", self.chunk_id, exc_info=True)
