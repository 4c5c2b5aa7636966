"""Typed dependencies, so route signatures stay short and honest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import ServiceContext, UnitOfWork
from api.errors import ApiError
from ltb.db.models import ApiKey, Tenant
from ltb.tenancy import hash_key

_bearer = HTTPBearer(auto_error=False)


async def get_context(request: Request) -> ServiceContext:
    # async: no I/O here, so FastAPI need not hop to a worker thread for it.
    context: ServiceContext = request.app.state.context
    return context


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    with context.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_unit_of_work(
    session: SessionDep, context: ContextDep, background: BackgroundTasks
) -> UnitOfWork:
    return UnitOfWork(session=session, queue=context.queue, background=background)


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]


# Recently authenticated keys, by hash: a polling client would otherwise cost a query per
# request. A revoked key keeps working for at most this long in each API process.
AUTH_CACHE_S = 5.0
_authenticated: dict[str, tuple[float, Tenant]] = {}


def get_tenant(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Tenant:
    """The tenant whose API key signs the request; 401 for a missing or unknown key."""
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <api key>'")
    digest = hash_key(credentials.credentials)
    cached = _authenticated.get(digest)
    if cached is not None and time.monotonic() - cached[0] < AUTH_CACHE_S:
        return cached[1]
    tenant = session.scalar(
        select(Tenant)
        .join(ApiKey, ApiKey.tenant_id == Tenant.id)
        .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
    )
    if tenant is None:
        raise ApiError(401, "unauthorized", "the API key is not valid")
    # A detached snapshot: read-only fields (id, name, prefixes) shared across requests.
    session.expunge(tenant)
    _authenticated[digest] = (time.monotonic(), tenant)
    return tenant


TenantDep = Annotated[Tenant, Depends(get_tenant)]
