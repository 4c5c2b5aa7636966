"""The rules of batches. A batch is recorded with all its jobs in bulk and one dispatch
task, so 10,000 jobs are accepted in seconds; the plan messages are sent by a worker.
The queries live in api/batches/repository.py."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.batches import repository
from api.batches.schemas import BatchCreate, BatchView
from api.context import ServiceContext, UnitOfWork
from api.errors import ApiError, not_found
from api.idempotency import replayed, request_fingerprint
from api.jobs import repository as jobs_repository
from api.jobs.service import allowed, refuse_over_budget, refuse_unserved
from ltb.db.models import Batch, Tenant
from ltb.languages import check_dub_request, check_engine, check_language, check_outputs
from ltb.lifecycle import cancel_batch_jobs
from ltb.outputs import audio_only_key, check_video_outputs, spoken
from ltb.queue import DISPATCH_BATCH
from ltb.retention import check_job_retention
from ltb.states import BatchStatus, JobStatus
from ltb.storage import ObjectRef
from ltb.tenancy import default_output_prefix
from ltb.views import batch_model
from ltb.webhooks import check_callback_url

MEDIA_SUFFIXES = frozenset(
    [
        ".mp3",
        ".wav",
        ".m4a",
        ".aac",
        ".flac",
        ".ogg",
        ".opus",
        ".wma",
        ".aif",
        ".aiff",
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".ts",
        ".mts",
        ".flv",
        ".wmv",
        ".3gp",
    ]
)


def submit(
    uow: UnitOfWork,
    context: ServiceContext,
    *,
    tenant: Tenant,
    body: BatchCreate,
    idempotency_key: str | None,
) -> tuple[Batch, bool]:
    """Records a batch and its jobs; one dispatch task follows the commit."""
    session = uow.session
    fingerprint = request_fingerprint(body)
    if idempotency_key:
        existing = repository.by_idempotency_key(session, tenant_id=tenant.id, key=idempotency_key)
        if existing is not None:
            return replayed(existing, fingerprint, what="batch")
    refuse_over_budget(session, tenant)
    targets, voices = _targets_and_voices(body)
    check_job_retention(body.retention_days, tenant.retention_days)
    if body.callback_url:
        check_callback_url(body.callback_url, allow_private=context.settings.webhook_allow_private)
    max_jobs = context.settings.max_batch_jobs
    sources = _sources(context, tenant, body, targets=len(targets))
    total = len(sources) * len(targets)
    if total > max_jobs:
        raise _too_many_jobs(f"{len(sources)} sources", len(targets), max_jobs)
    batch = Batch(
        tenant_id=tenant.id,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        source_prefix=body.source_prefix,
        target_langs=targets,
        options=body.model_dump(
            mode="json", exclude={"sources", "source_prefix", "target_langs", "labels"}
        ),
        labels=dict(body.labels),
        callback_url=body.callback_url,
        priority=body.priority,
        jobs_total=total,
    )
    session.add(batch)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        existing = repository.by_idempotency_key(
            session, tenant_id=tenant.id, key=idempotency_key or ""
        )
        if existing is None:
            raise
        return replayed(existing, fingerprint, what="batch")
    rows = [
        _job_row(context, tenant, batch, body, source, target, voices)
        for source in sources
        for target in targets
    ]
    repository.add_jobs(session, rows)
    uow.enqueue(DISPATCH_BATCH, str(batch.id))
    return batch, False


def _targets_and_voices(body: BatchCreate) -> tuple[list[str], dict[str, str | None]]:
    targets = [str(target) for target in dict.fromkeys(body.target_langs)]
    for target in targets:
        check_language(target)
    if body.source_lang is not None:
        check_language(body.source_lang, role="source")
    engine = check_engine(body.engine, source_lang=body.source_lang)
    outputs = check_outputs(body.outputs, engine=engine)
    refuse_unserved(engine)
    chosen = {str(target): str(voice) for target, voice in body.voices.items()}
    unknown = set(chosen) - set(targets)
    if unknown:
        raise ApiError(
            422,
            "invalid_voices",
            f"voices names targets the batch does not have: {sorted(unknown)}",
        )
    voices: dict[str, str | None] = {}
    for target in targets:
        wanted = chosen.get(target, body.voice)
        voices[target] = check_dub_request(target, wanted) if spoken(outputs) else None
    return targets, voices


def _too_many_jobs(sources: str, targets: int, max_jobs: int) -> ApiError:
    return ApiError(
        422,
        "too_many_jobs",
        f"{sources} × {targets} targets make more than {max_jobs} jobs, the most a batch may "
        f"hold (LTB_MAX_BATCH_JOBS). Split it by prefix.",
    )


def _sources(
    context: ServiceContext, tenant: Tenant, body: BatchCreate, *, targets: int
) -> list[str]:
    if body.sources is not None:
        uris = [ObjectRef.parse(uri).uri for uri in body.sources]
        outside = [uri for uri in uris if not allowed(tenant, uri)]
        if outside:
            raise ApiError(
                403,
                "source_not_allowed",
                f"{len(outside)} sources are outside this tenant's allowed prefixes, e.g. {outside[0]}",
            )
        # Named sources that say sound only are refused now; listed ones fail at planning.
        outputs = check_outputs(body.outputs)
        for uri in uris:
            check_video_outputs(
                outputs, has_video=not audio_only_key(ObjectRef.parse(uri).key), source=uri
            )
        return list(dict.fromkeys(uris))
    prefix = body.source_prefix or ""
    if not prefix.endswith("/"):
        prefix += "/"
    if not allowed(tenant, prefix):
        raise ApiError(
            403, "source_not_allowed", f"{prefix} is outside this tenant's allowed prefixes"
        )
    # The limit is enforced while listing: a prefix of millions of objects must not be
    # listed (and held in memory) only to be refused at the end.
    max_jobs = context.settings.max_batch_jobs
    max_sources = max_jobs // targets
    listed: list[str] = []
    for item in context.store.list(ObjectRef.parse(prefix.rstrip("/"))):
        if PurePosixPath(item.ref.key).suffix.lower() not in MEDIA_SUFFIXES or item.size <= 0:
            continue
        listed.append(item.ref.uri)
        if len(listed) > max_sources:
            raise _too_many_jobs(
                f"{prefix} holds more than {max_sources} media files", targets, max_jobs
            )
    if not listed:
        raise ApiError(422, "no_sources", f"no audio or video files under {prefix}")
    return sorted(listed)


def _job_row(
    context: ServiceContext,
    tenant: Tenant,
    batch: Batch,
    body: BatchCreate,
    source: str,
    target: str,
    voices: dict[str, str | None],
) -> dict[str, Any]:
    job_id = uuid.uuid4()
    return {
        "id": job_id,
        "tenant_id": tenant.id,
        "batch_id": batch.id,
        "source_uri": source,
        "source_lang": body.source_lang,
        "target_lang": target,
        "outputs": list(
            check_outputs(
                body.outputs, engine=check_engine(body.engine, source_lang=body.source_lang)
            )
        ),
        "engine": body.engine,
        "voice": voices[target],
        "dub_mix": body.dub_mix,
        "duck_db": body.duck_db,
        "visual_context": body.visual_context == "on",
        "output_prefix": default_output_prefix(
            tenant, job_id, output_bucket=context.settings.output_bucket
        ),
        "estimate_only": body.estimate_only,
        "labels": dict(body.labels),
        "budget_max_input_tokens": body.budget.max_input_tokens if body.budget else None,
        "budget_max_cost": body.budget.max_cost if body.budget else None,
        "callback_url": body.callback_url,
        "retention_days": body.retention_days,
        "priority": body.priority,
        "status": JobStatus.QUEUED,
    }


def find(session: Session, *, tenant: Tenant, batch_id: uuid.UUID) -> Batch:
    batch = repository.get(session, tenant_id=tenant.id, batch_id=batch_id)
    if batch is None:
        raise not_found("batch")
    return batch


def view(session: Session, batch: Batch) -> BatchView:
    return batch_model(session, batch)


def cancel(uow: UnitOfWork, *, tenant: Tenant, batch_id: uuid.UUID) -> Batch:
    """Cancels every job not yet finished; chunks in flight finish and are recorded."""
    session = uow.session
    batch = find(session, tenant=tenant, batch_id=batch_id)
    if batch.status != BatchStatus.OPEN:
        raise ApiError(409, "not_cancellable", f"the batch is {batch.status}")
    batch.status = BatchStatus.CANCELLED
    session.flush()
    cancel_batch_jobs(session, batch, deliver=uow.deliver_webhook)
    repository.cancel_unstarted_chunks(session, batch_id=batch.id)
    session.refresh(batch)
    return batch


def retry_failed(uow: UnitOfWork, *, tenant: Tenant, batch_id: uuid.UUID) -> tuple[Batch, int]:
    """Queues the batch's failed jobs again; their finished chunks are never redone."""
    session = uow.session
    batch = find(session, tenant=tenant, batch_id=batch_id)
    if batch.status == BatchStatus.CANCELLED:
        raise ApiError(409, "not_retryable", "the batch was cancelled")
    reopened = jobs_repository.requeue_failed_of_batch(session, batch_id=batch.id)
    if reopened:
        jobs_repository.reopen_unfinished_chunks(session, job_ids=reopened)
        repository.reopen(session, batch_id=batch.id, jobs=len(reopened))
        uow.enqueue(DISPATCH_BATCH, str(batch.id))
    session.refresh(batch)
    return batch, len(reopened)
