"""The console's own queries: the operator's fleet view, across tenants (api/console/fleet.py).
The only ones in the API not scoped to one tenant; only an operator key reaches them.
Tenant pages ask the domains' own repositories, through the API's endpoints."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ltb.db.models import Batch, Chunk, Job, Tenant, UsageDaily
from ltb.states import JOB_ACTIVE, BatchStatus, ChunkStatus


def tenant_names(session: Session) -> list[tuple[uuid.UUID, str]]:
    """Every tenant, by name."""
    rows = session.execute(select(Tenant.id, Tenant.name).order_by(Tenant.name))
    return [(tenant_id, name) for tenant_id, name in rows]


def jobs_by_status(session: Session) -> list[tuple[uuid.UUID, str, int]]:
    """(tenant, status, jobs) for every status a tenant has jobs in."""
    rows = session.execute(
        select(Job.tenant_id, Job.status, func.count(Job.id)).group_by(Job.tenant_id, Job.status)
    )
    return [(tenant_id, status, int(count)) for tenant_id, status, count in rows]


def active_chunk_progress(session: Session) -> list[tuple[uuid.UUID, int, int]]:
    """(tenant, chunks done, chunks planned) over each tenant's active jobs."""
    rows = session.execute(
        select(
            Job.tenant_id,
            func.coalesce(func.sum(Job.chunks_done), 0),
            func.coalesce(func.sum(Job.chunks_total), 0),
        )
        .where(Job.status.in_(JOB_ACTIVE))
        .group_by(Job.tenant_id)
    )
    return [(tenant_id, int(done), int(total)) for tenant_id, done, total in rows]


def pending_chunks(session: Session) -> list[tuple[uuid.UUID, int]]:
    """(tenant, chunks waiting to be sent)."""
    rows = session.execute(
        select(Chunk.tenant_id, func.count(Chunk.id))
        .where(Chunk.status == ChunkStatus.PENDING)
        .group_by(Chunk.tenant_id)
    )
    return [(tenant_id, int(count)) for tenant_id, count in rows]


def open_batches(session: Session) -> list[tuple[uuid.UUID, int]]:
    """(tenant, batches still open)."""
    rows = session.execute(
        select(Batch.tenant_id, func.count(Batch.id))
        .where(Batch.status == BatchStatus.OPEN)
        .group_by(Batch.tenant_id)
    )
    return [(tenant_id, int(count)) for tenant_id, count in rows]


def cost_since(session: Session, since: date) -> list[tuple[uuid.UUID, str, Decimal]]:
    """(tenant, currency, cost) of the days from `since` on."""
    rows = session.execute(
        select(UsageDaily.tenant_id, UsageDaily.currency, func.sum(UsageDaily.cost))
        .where(UsageDaily.day >= since)
        .group_by(UsageDaily.tenant_id, UsageDaily.currency)
    )
    return [(tenant_id, currency, Decimal(cost or 0)) for tenant_id, currency, cost in rows]
