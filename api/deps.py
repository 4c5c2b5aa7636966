"""Typed dependencies, so route signatures stay short and honest."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.context import ServiceContext, UnitOfWork
from api.errors import ApiError
from ltb.db.engine import commit, rollback, run_quietly
from ltb.db.models import Tenant
from ltb.tenancy import hash_key
from ltb.tenant_repository import tenant_for_key

_bearer = HTTPBearer(auto_error=False)


async def get_context(request: Request) -> ServiceContext:
    # async: no I/O here, so FastAPI need not hop to a worker thread for it.
    context: ServiceContext = request.app.state.context
    return context


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    """Where a request's session comes from (tests hand in theirs); it closes once the
    response is sent."""
    with context.sessions() as session:
        yield session


def get_transaction(
    session: Annotated[Session, Depends(get_session)], background: BackgroundTasks
) -> Iterator[Session]:
    """The request's one transaction: committed when the handler returns, before the
    response is sent (so a 2xx means the write is durable); rolled back if the handler
    raises. What the handler queued with `after_commit` goes out after the commit, once
    the response is on its way. Handlers and services never commit."""
    try:
        yield session
        actions = commit(session)
    except BaseException:
        rollback(session)
        raise
    for action in actions:
        background.add_task(run_quietly, action)


# Function scope: the commit happens as the handler returns, not after the response.
SessionDep = Annotated[Session, Depends(get_transaction, scope="function")]


async def get_unit_of_work(session: SessionDep, context: ContextDep) -> UnitOfWork:
    return UnitOfWork(session=session, queue=context.queue)


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]


class KeyCache:
    """Keys this API app has checked recently, by hash, with their tenant.

    A polling client would otherwise cost a query per request. Entries live `ttl_s`
    seconds, so a revoked key keeps working for at most that long in any process; the
    cache holds at most `max_keys` entries, the oldest dropped first.
    """

    def __init__(self, *, ttl_s: float, max_keys: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self._entries: OrderedDict[str, tuple[float, Tenant]] = OrderedDict()
        # Sync dependencies run on a thread pool.
        self._lock = threading.Lock()

    def get(self, digest: str) -> Tenant | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if time.monotonic() - entry[0] >= self.ttl_s:
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, digest: str, tenant: Tenant) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._entries.pop(digest, None)
            self._entries[digest] = (time.monotonic(), tenant)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)


def get_tenant(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Tenant:
    """The tenant whose API key signs the request; 401 for a missing or unknown key."""
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <api key>'")
    cache: KeyCache = request.app.state.key_cache
    digest = hash_key(credentials.credentials)
    cached = cache.get(digest)
    if cached is not None:
        return cached
    tenant = tenant_for_key(session, digest)
    if tenant is None:
        raise ApiError(401, "unauthorized", "the API key is not valid")
    # A detached snapshot: read-only fields (id, name, grants) shared across requests.
    session.expunge(tenant)
    cache.put(digest, tenant)
    return tenant


TenantDep = Annotated[Tenant, Depends(get_tenant)]
