"""The operator's read-only view across tenants: progress, queue depth and cost.

The only queries in the console that are not scoped to one tenant; only an operator key
reaches them (see api.console.auth)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ltb.db.models import Batch, Chunk, Job, Tenant, UsageDaily

COST_DAYS = 30


@dataclass
class TenantRow:
    name: str
    jobs: dict[str, int] = field(default_factory=dict)
    chunks_done: int = 0
    chunks_total: int = 0
    chunks_pending: int = 0
    open_batches: int = 0
    cost: dict[str, Decimal] = field(default_factory=dict)

    @property
    def active(self) -> int:
        return self.jobs.get("queued", 0) + self.jobs.get("running", 0)

    @property
    def percent(self) -> float:
        return round(100.0 * self.chunks_done / self.chunks_total, 1) if self.chunks_total else 0.0


def fleet(session: Session, *, today: date | None = None) -> list[TenantRow]:
    """One row per tenant: jobs by status, chunk progress of active jobs, queue depth
    (queued jobs and pending chunks) and the last 30 days' cost by currency."""
    rows: dict[uuid.UUID, TenantRow] = {
        tenant_id: TenantRow(name=name)
        for tenant_id, name in session.execute(select(Tenant.id, Tenant.name).order_by(Tenant.name))
    }
    for tenant_id, status, count in session.execute(
        select(Job.tenant_id, Job.status, func.count(Job.id)).group_by(Job.tenant_id, Job.status)
    ):
        rows[tenant_id].jobs[status] = int(count)
    for tenant_id, done, total in session.execute(
        select(
            Job.tenant_id,
            func.coalesce(func.sum(Job.chunks_done), 0),
            func.coalesce(func.sum(Job.chunks_total), 0),
        )
        .where(Job.status.in_(("queued", "running")))
        .group_by(Job.tenant_id)
    ):
        rows[tenant_id].chunks_done = int(done)
        rows[tenant_id].chunks_total = int(total)
    for tenant_id, pending in session.execute(
        select(Chunk.tenant_id, func.count(Chunk.id))
        .where(Chunk.status == "pending")
        .group_by(Chunk.tenant_id)
    ):
        rows[tenant_id].chunks_pending = int(pending)
    for tenant_id, count in session.execute(
        select(Batch.tenant_id, func.count(Batch.id))
        .where(Batch.status == "open")
        .group_by(Batch.tenant_id)
    ):
        rows[tenant_id].open_batches = int(count)
    since = (today or datetime.now(UTC).date()) - timedelta(days=COST_DAYS)
    for tenant_id, currency, cost in session.execute(
        select(UsageDaily.tenant_id, UsageDaily.currency, func.sum(UsageDaily.cost))
        .where(UsageDaily.day >= since)
        .group_by(UsageDaily.tenant_id, UsageDaily.currency)
    ):
        rows[tenant_id].cost[currency] = Decimal(cost or 0)
    return list(rows.values())
