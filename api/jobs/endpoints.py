"""/v1/jobs"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from api.deps import ContextDep, SessionDep, TenantDep, UnitOfWorkDep
from api.errors import TENANT_ERRORS, ApiError, errors
from api.jobs import service
from api.jobs.repository import JobFilters
from api.jobs.schemas import JobCreate, JobPage, JobStatus, JobView, LanguageCode
from api.params import Moment

# A label filter is name:value with a non-empty name; the value may be empty.
LABEL_FILTER_PATTERN = r"^[^:]+:"

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.post(
    "",
    status_code=202,
    response_model=JobView,
    responses=errors(*TENANT_ERRORS, 400, 403, 409, 413),
)
def submit_job(
    body: JobCreate,
    tenant: TenantDep,
    uow: UnitOfWorkDep,
    context: ContextDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobView:
    """Queue a translation job. With an Idempotency-Key, the same body returns the same job."""
    job, replayed = service.submit(
        uow, context, tenant=tenant, body=body, idempotency_key=idempotency_key
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return service.view(uow.session, context, job, just_created=not replayed)


@router.get("/{job_id}", response_model=JobView, responses=errors(*TENANT_ERRORS, 404))
def get_job(
    job_id: uuid.UUID, tenant: TenantDep, session: SessionDep, context: ContextDep
) -> JobView:
    """A job's status, progress, estimate, usage, cost and outputs."""
    return service.view(session, context, service.find(session, tenant=tenant, job_id=job_id))


@router.get("", response_model=JobPage, responses=errors(*TENANT_ERRORS))
def list_jobs(
    tenant: TenantDep,
    session: SessionDep,
    context: ContextDep,
    status: JobStatus | None = None,
    target: LanguageCode | None = None,
    label: Annotated[
        str | None,
        Query(
            description="name:value (the name not empty)",
            # Published, not enforced here: the check below answers invalid_label_filter.
            json_schema_extra={"pattern": LABEL_FILTER_PATTERN},
        ),
    ] = None,
    batch_id: uuid.UUID | None = None,
    created_from: Moment | None = None,
    created_to: Moment | None = None,
    cursor: Annotated[
        str | None,
        Query(description="Opaque: a `next_cursor` this API answered, passed back unchanged."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobPage:
    """Jobs, newest first, filtered; pass `next_cursor` back as `cursor` for the next page."""
    label_filter = None
    if label is not None:
        name, sep, value = label.partition(":")
        if not sep or not name:
            raise ApiError(422, "invalid_label_filter", "label filters look like name:value")
        label_filter = (name, value)
    filters = JobFilters(
        status=status,
        target_lang=str(target) if target else None,
        label=label_filter,
        created_from=created_from,
        created_to=created_to,
        batch_id=batch_id,
    )
    return service.listing(
        session, context, tenant=tenant, filters=filters, cursor=cursor, limit=limit
    )


@router.post(
    "/{job_id}/cancel", response_model=JobView, responses=errors(*TENANT_ERRORS, 404, 409, 413)
)
def cancel_job(
    job_id: uuid.UUID, tenant: TenantDep, uow: UnitOfWorkDep, context: ContextDep
) -> JobView:
    """No new chunk starts; chunks in flight finish and are recorded; the job ends cancelled."""
    job = service.cancel(uow, tenant=tenant, job_id=job_id)
    return service.view(uow.session, context, job)


@router.delete(
    "/{job_id}",
    response_model=JobView,
    status_code=202,
    responses=errors(*TENANT_ERRORS, 403, 404, 409),
)
def delete_job(
    job_id: uuid.UUID, tenant: TenantDep, uow: UnitOfWorkDep, context: ContextDep
) -> JobView:
    """Delete a finished job's outputs and every copy the service made for it, at once.
    The job stays listed with `deleted_at`, no outputs, and its usage; `job.deleted` is
    sent to its callback once the objects are gone (`outputs_expired_at`)."""
    job = service.delete(uow, context, tenant=tenant, job_id=job_id)
    return service.view(uow.session, context, job)


@router.post(
    "/{job_id}/retry",
    response_model=JobView,
    status_code=202,
    responses=errors(*TENANT_ERRORS, 404, 409, 413),
)
def retry_job(
    job_id: uuid.UUID, tenant: TenantDep, uow: UnitOfWorkDep, context: ContextDep
) -> JobView:
    """Redo a failed job's unfinished chunks; finished chunks are never requested again."""
    job = service.retry(uow, tenant=tenant, job_id=job_id)
    return service.view(uow.session, context, job)
