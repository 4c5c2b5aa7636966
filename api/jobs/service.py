"""The rules of submitting and steering jobs. Functions here never commit: the request's
transaction does, then sends what they queued."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.context import ServiceContext, UnitOfWork
from api.errors import ApiError, not_found
from api.jobs import repository
from api.jobs.repository import JobFilters
from api.jobs.schemas import (
    JobCreate,
    JobPage,
    JobView,
)
from ltb.db.models import Job, Tenant
from ltb.languages import check_dub_request, check_engine, check_language, check_outputs
from ltb.lifecycle import finish_job, reopen_in_batch
from ltb.outputs import spoken
from ltb.queue import PLAN_JOB
from ltb.states import Engine
from ltb.storage import ObjectRef
from ltb.tenancy import default_output_prefix, may_read, may_write
from ltb.views import job_model
from ltb.webhooks import check_callback_url

ACTIVE = ("queued", "running")


def submit(
    uow: UnitOfWork,
    context: ServiceContext,
    *,
    tenant: Tenant,
    body: JobCreate,
    idempotency_key: str | None,
) -> tuple[Job, bool]:
    """Records a job and queues its plan. Returns the job and whether it was a replay."""
    fingerprint = _fingerprint(body)
    session = uow.session
    if idempotency_key:
        existing = repository.by_idempotency_key(session, tenant_id=tenant.id, key=idempotency_key)
        if existing is not None:
            return _replayed(existing, fingerprint)
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
        return _replayed(existing, fingerprint)
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
        visual_context=body.visual_context == "on",
        engine=engine.value,
        output_prefix=output_prefix,
        estimate_only=body.estimate_only,
        labels=dict(body.labels),
        budget_max_input_tokens=body.budget.max_input_tokens if body.budget else None,
        budget_max_cost=body.budget.max_cost if body.budget else None,
        status="queued",
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


def _fingerprint(body: JobCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replayed(job: Job, fingerprint: str) -> tuple[Job, bool]:
    if job.request_fingerprint != fingerprint:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body; use a new key",
        )
    return job, True


def find(session: Session, *, tenant: Tenant, job_id: uuid.UUID) -> Job:
    job = repository.get(session, tenant_id=tenant.id, job_id=job_id)
    if job is None:
        raise not_found("job")
    return job


def cancel(uow: UnitOfWork, *, tenant: Tenant, job_id: uuid.UUID) -> Job:
    """No new chunk starts; chunks in flight finish and are recorded; the job ends cancelled."""
    job = find(uow.session, tenant=tenant, job_id=job_id)
    if job.status not in ACTIVE:
        raise ApiError(
            409,
            "not_cancellable",
            f"the job is {job.status}; only queued or running jobs can be cancelled",
        )
    finish_job(uow.session, job, status="cancelled", deliver=uow.deliver_webhook)
    repository.cancel_unstarted_chunks(uow.session, job_id=job.id)
    return job


def retry(uow: UnitOfWork, *, tenant: Tenant, job_id: uuid.UUID) -> Job:
    """Redoes a failed job's chunks that are not done; done chunks are never requested again."""
    session = uow.session
    reopened = repository.requeue_failed(
        session, where=(Job.id == job_id) & (Job.tenant_id == tenant.id)
    )
    job = find(session, tenant=tenant, job_id=job_id)
    session.refresh(job)
    if not reopened:
        if job.status == "failed":
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
