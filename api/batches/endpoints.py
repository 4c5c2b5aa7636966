"""/v1/batches"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from api.batches import service
from api.batches.schemas import BatchCreate, BatchView
from api.deps import ContextDep, SessionDep, TenantDep, UnitOfWorkDep
from api.errors import TENANT_ERRORS, errors

router = APIRouter(prefix="/v1/batches", tags=["batches"])


@router.post(
    "",
    status_code=202,
    response_model=BatchView,
    responses=errors(*TENANT_ERRORS, 400, 403, 409, 413),
)
def submit_batch(
    body: BatchCreate,
    tenant: TenantDep,
    uow: UnitOfWorkDep,
    context: ContextDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> BatchView:
    """One job per (source × target). Each source is fetched and analysed once."""
    batch, replayed = service.submit(
        uow, context, tenant=tenant, body=body, idempotency_key=idempotency_key
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return service.view(uow.session, batch)


@router.get("/{batch_id}", response_model=BatchView, responses=errors(*TENANT_ERRORS, 404))
def get_batch(batch_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> BatchView:
    """Counts by status and by target, progress, usage by token kind, cost, failures with codes."""
    return service.view(session, service.find(session, tenant=tenant, batch_id=batch_id))


@router.post(
    "/{batch_id}/cancel",
    response_model=BatchView,
    responses=errors(*TENANT_ERRORS, 404, 409, 413),
)
def cancel_batch(batch_id: uuid.UUID, tenant: TenantDep, uow: UnitOfWorkDep) -> BatchView:
    """Cancels every job not yet finished; chunks in flight finish and are recorded."""
    batch = service.cancel(uow, tenant=tenant, batch_id=batch_id)
    return service.view(uow.session, batch)


@router.post(
    "/{batch_id}/retry-failed",
    response_model=BatchView,
    status_code=202,
    responses=errors(*TENANT_ERRORS, 404, 409, 413),
)
def retry_failed(batch_id: uuid.UUID, tenant: TenantDep, uow: UnitOfWorkDep) -> BatchView:
    """Queues the failed jobs again; chunks they finished are never requested again."""
    batch, _ = service.retry_failed(uow, tenant=tenant, batch_id=batch_id)
    return service.view(uow.session, batch)
