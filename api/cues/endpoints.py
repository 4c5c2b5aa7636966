"""/v1/jobs/{id}/cues and /v1/jobs/{id}/chunks/{index}/redo"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.cues import service
from api.cues.schemas import CueList, CuePatch, CueRejection, RedoRequest, RevisionInfo
from api.deps import SessionDep, TenantDep, UnitOfWorkDep
from api.errors import ERROR_STATUSES, TENANT_ERRORS, errors

router = APIRouter(prefix="/v1/jobs", tags=["cues"])

_REJECTED: dict[int | str, dict[str, Any]] = {
    422: {"model": CueRejection, "description": ERROR_STATUSES[422]}
}


@router.get("/{job_id}/cues", response_model=CueList, responses=errors(*TENANT_ERRORS, 404, 409))
def get_cues(job_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> CueList:
    """A succeeded job's cues, as its current output revision's subtitles show them."""
    return service.current_cues(session, tenant=tenant, job_id=job_id)


@router.patch(
    "/{job_id}/cues",
    status_code=202,
    response_model=RevisionInfo,
    responses=errors(*TENANT_ERRORS, 400, 404, 409, 413) | _REJECTED,
)
def patch_cues(
    job_id: uuid.UUID, body: CuePatch, tenant: TenantDep, uow: UnitOfWorkDep
) -> RevisionInfo:
    """Edit cue texts and times. Checked against the target language's subtitle rules
    (422 lists each violation with its cue); then a worker writes every output again as
    a new revision under `rev-N/`, with no provider call. Poll the job for its status."""
    return service.edit_cues(uow, tenant=tenant, job_id=job_id, body=body)


@router.post(
    "/{job_id}/chunks/{index}/redo",
    status_code=202,
    response_model=RevisionInfo,
    responses=errors(*TENANT_ERRORS, 400, 404, 409, 413),
)
def redo_chunk(
    job_id: uuid.UUID,
    index: Annotated[int, Path(ge=0, le=2**31 - 1)],
    tenant: TenantDep,
    uow: UnitOfWorkDep,
    body: RedoRequest | None = None,
) -> RevisionInfo:
    """Translate one chunk again (one request, billed with purpose `redo`), optionally
    with another voice; then every output is assembled again as a new revision."""
    return service.redo_chunk(
        uow, tenant=tenant, job_id=job_id, index=index, body=body or RedoRequest()
    )
