"""The rules of submitting and steering jobs. Functions here never commit: the request's
transaction does, then sends what they queued."""

from __future__ import annotations

import base64
import math
import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.context import ServiceContext, UnitOfWork
from api.errors import ApiError, not_found
from api.idempotency import replayed, request_fingerprint
from api.jobs import repository
from api.jobs.repository import JobFilters
from api.jobs.schemas import (
    JobCreate,
    JobPage,
    JobView,
)
from ltb.db.models import Job, Tenant
from ltb.fair_share import booked_tokens_this_month, next_month_start
from ltb.languages import check_dub_request, check_engine, check_language, check_outputs
from ltb.lifecycle import finish_job, reopen_in_batch
from ltb.outputs import audio_only_key, check_video_outputs, spoken
from ltb.queue import PLAN_JOB, PURGE_JOB
from ltb.retention import check_job_retention, outputs_gone
from ltb.states import JOB_ACTIVE, Engine, JobStatus
from ltb.storage import ObjectRef
from ltb.tenancy import default_output_prefix, may_read, may_write
from ltb.views import job_model
from ltb.webhooks import check_callback_url


def submit(
    uow: UnitOfWork,
    context: ServiceContext,
    *,
    tenant: Tenant,
    body: JobCreate,
    idempotency_key: str | None,
) -> tuple[Job, bool]:
    """Records a job and queues its plan. Returns the job and whether it was a replay."""
    fingerprint = request_fingerprint(body)
    session = uow.session
    if idempotency_key:
        existing = repository.by_idempotency_key(session, tenant_id=tenant.id, key=idempotency_key)
        if existing is not None:
            return replayed(existing, fingerprint, what="request body")
    refuse_over_budget(session, tenant)
    job = new_job(context, tenant=tenant, body=body)
    job.idempotency_key = idempotency_key
    job.request_fingerprint = fingerprint
    session.add(job)
    try:
        session.flush()
    except IntegrityError:
        # Another request with the same key won the race: answer as it did.
        session.rollback()
        existing = repository.by_idempotency_key(
            session, tenant_id=tenant.id, key=idempotency_key or ""
        )
        if existing is None:
            raise
        return replayed(existing, fingerprint, what="request body")
    uow.enqueue(PLAN_JOB, str(job.id))
    return job, False


def new_job(
    context: ServiceContext, *, tenant: Tenant, body: JobCreate, batch_id: uuid.UUID | None = None
) -> Job:
    """A job row for `body`, checked: languages, voice, and where it may read and write."""
    check_language(body.target_lang)
    if body.source_lang is not None:
        check_language(body.source_lang, role="source")
    engine = check_engine(body.engine, source_lang=body.source_lang)
    outputs = check_outputs(body.outputs, engine=engine)
    voice = check_dub_request(body.target_lang, body.voice) if spoken(outputs) else None
    refuse_unserved(engine)
    source = ObjectRef.parse(body.source_uri)
    # A name that says sound only is refused now; any other source is probed at planning.
    check_video_outputs(outputs, has_video=not audio_only_key(source.key), source=source.uri)
    if not allowed(tenant, source.uri):
        raise ApiError(
            403,
            "source_not_allowed",
            f"{source.uri} is outside this tenant's read grants ({', '.join(tenant.read_prefixes) or 'none'})",
        )
    job_id = uuid.uuid4()
    output_bucket = context.settings.output_bucket
    output_prefix = body.output_prefix or default_output_prefix(
        tenant, job_id, output_bucket=output_bucket
    )
    if not output_prefix.endswith("/"):
        output_prefix += "/"
    ObjectRef.parse(output_prefix + "x")
    if body.output_prefix and not may_write(tenant, output_prefix, output_bucket=output_bucket):
        raise ApiError(
            403,
            "output_not_allowed",
            f"{output_prefix} is outside this tenant's write grants and its default output folder",
        )
    retention_days = check_job_retention(body.retention_days, tenant.retention_days)
    callback_url = None
    if body.callback_url:
        callback_url = check_callback_url(
            body.callback_url, allow_private=context.settings.webhook_allow_private
        )
    return Job(
        id=job_id,
        callback_url=callback_url,
        tenant_id=tenant.id,
        batch_id=batch_id,
        source_uri=source.uri,
        source_lang=body.source_lang,
        target_lang=body.target_lang,
        outputs=list(outputs),
        voice=voice,
        dub_mix=body.dub_mix,
        duck_db=body.duck_db,
        visual_context=body.visual_context == "on",
        engine=engine.value,
        output_prefix=output_prefix,
        estimate_only=body.estimate_only,
        labels=dict(body.labels),
        budget_max_input_tokens=body.budget.max_input_tokens if body.budget else None,
        budget_max_cost=body.budget.max_cost if body.budget else None,
        retention_days=retention_days,
        priority=body.priority,
        status=JobStatus.QUEUED,
    )


def refuse_over_budget(session: Session, tenant: Tenant) -> None:
    """No new job once the tenant's booked tokens this month reach its monthly budget; jobs
    already accepted run on (a budget is a ceiling on new work, not a kill switch)."""
    if tenant.monthly_token_budget is None:
        return
    moment = datetime.now(UTC)
    booked = booked_tokens_this_month(session, tenant.id, moment)
    if booked < tenant.monthly_token_budget:
        return
    raise ApiError(
        429,
        "tenant_budget_exhausted",
        f"this tenant booked {booked:,} tokens this month, its budget is "
        f"{tenant.monthly_token_budget:,}; new jobs are accepted again next month, or once "
        "an operator raises it (ltb tenants update --monthly-token-budget)",
        headers={
            "Retry-After": str(math.ceil((next_month_start(moment) - moment).total_seconds()))
        },
    )


def refuse_unserved(engine: Engine) -> None:
    """The workers run file jobs only so far: a realtime request is checked in full, then
    refused with a code, never queued for a worker that cannot run it."""
    if engine != Engine.FILE:
        raise ApiError(
            422,
            "engine_unavailable",
            f"the service does not run {engine.value} jobs yet; run them with "
            "`ltb translate --engine realtime`",
        )


def allowed(tenant: Tenant, uri: str) -> bool:
    """Whether `uri` lies inside one of the tenant's read grants (folders)."""
    return may_read(tenant, uri)


def find(session: Session, *, tenant: Tenant, job_id: uuid.UUID) -> Job:
    job = repository.get(session, tenant_id=tenant.id, job_id=job_id)
    if job is None:
        raise not_found("job")
    return job


def cancel(uow: UnitOfWork, *, tenant: Tenant, job_id: uuid.UUID) -> Job:
    """No new chunk starts; chunks in flight finish and are recorded; the job ends cancelled."""
    job = find(uow.session, tenant=tenant, job_id=job_id)
    if job.status not in JOB_ACTIVE:
        raise ApiError(
            409,
            "not_cancellable",
            f"the job is {job.status}; only queued or running jobs can be cancelled",
        )
    finish_job(uow.session, job, status=JobStatus.CANCELLED, deliver=uow.deliver_webhook)
    repository.cancel_unstarted_chunks(uow.session, job_id=job.id)
    return job


def delete(uow: UnitOfWork, context: ServiceContext, *, tenant: Tenant, job_id: uuid.UUID) -> Job:
    """Marks a finished job deleted and has a worker delete every object written for it
    at once (worker/retention.py); the row and its usage stay. Deleting twice is harmless."""
    job = find(uow.session, tenant=tenant, job_id=job_id)
    if job.status in JOB_ACTIVE:
        raise ApiError(
            409,
            "job_not_finished",
            f"the job is {job.status}; cancel it first, then delete it once it has ended",
        )
    # Deleting objects is writing where they are: the tenant must still hold that grant.
    if not may_write(tenant, job.output_prefix, output_bucket=context.settings.output_bucket):
        raise ApiError(
            403,
            "output_not_allowed",
            f"{job.output_prefix} is no longer inside this tenant's write grants",
        )
    if job.outputs_expired_at is None:
        repository.mark_deleted(uow.session, job_id=job.id)
        uow.session.refresh(job)
        # Sent again for a deletion already under way: the worker's run is idempotent.
        uow.enqueue(PURGE_JOB, str(job.id))
    elif job.deleted_at is None:
        # Expired already: nothing is left to delete, only the owner's wish to record.
        repository.mark_deleted(uow.session, job_id=job.id)
        uow.session.refresh(job)
    return job


def retry(uow: UnitOfWork, *, tenant: Tenant, job_id: uuid.UUID) -> Job:
    """Redoes a failed job's chunks that are not done; done chunks are never requested again."""
    session = uow.session
    reopened = repository.requeue_failed_job(session, tenant_id=tenant.id, job_id=job_id)
    job = find(session, tenant=tenant, job_id=job_id)
    session.refresh(job)
    if not reopened:
        if outputs_gone(job):
            raise ApiError(
                409, "job_deleted", "the job was deleted; submit the source again instead"
            )
        if job.status == JobStatus.FAILED:
            raise ApiError(
                409,
                "budget_exceeded",
                "the job's estimate exceeds its budget; it cannot be queued again",
            )
        raise ApiError(
            409, "not_retryable", f"the job is {job.status}; only failed jobs can be retried"
        )
    repository.reopen_unfinished_chunks(session, job_ids=[job.id])
    if job.batch_id is not None:
        reopen_in_batch(session, job.batch_id, 1)
    uow.enqueue(PLAN_JOB, str(job.id))
    return job


def listing(
    session: Session,
    context: ServiceContext,
    *,
    tenant: Tenant,
    filters: JobFilters,
    cursor: str | None,
    limit: int,
) -> JobPage:
    jobs = repository.page(
        session, tenant_id=tenant.id, filters=filters, after=_decode(cursor), limit=limit + 1
    )
    more = len(jobs) > limit
    jobs = jobs[:limit]
    next_cursor = _encode(jobs[-1]) if more and jobs else None
    return JobPage(jobs=[view(session, context, job) for job in jobs], next_cursor=next_cursor)


def _encode(job: Job) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, job_id = raw.split("|")
        return datetime.fromisoformat(created), uuid.UUID(job_id)
    except ValueError as exc:
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API issued") from exc


def view(
    session: Session, context: ServiceContext, job: Job, *, just_created: bool = False
) -> JobView:
    """The job as GET /v1/jobs/{id} shows it: the outside view its webhooks send too."""
    return job_model(
        session,
        job,
        store=context.store,
        presign_expiry_s=context.settings.presign_expiry_s,
        just_created=just_created,
    )
