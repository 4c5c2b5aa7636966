"""The operator's read-only view across tenants: progress, queue depth and cost.

Its queries (api/console/repository.py) are the only ones in the console not scoped to
one tenant; only an operator key reaches them (see api.console.auth)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from api.console import repository
from ltb.states import JOB_ACTIVE

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
        return sum(self.jobs.get(status, 0) for status in JOB_ACTIVE)

    @property
    def percent(self) -> float:
        return round(100.0 * self.chunks_done / self.chunks_total, 1) if self.chunks_total else 0.0


def fleet(session: Session, *, today: date | None = None) -> list[TenantRow]:
    """One row per tenant: jobs by status, chunk progress of active jobs, queue depth
    (queued jobs and pending chunks) and the last 30 days' cost by currency."""
    rows = {tenant_id: TenantRow(name=name) for tenant_id, name in repository.tenant_names(session)}
    for tenant_id, status, count in repository.jobs_by_status(session):
        rows[tenant_id].jobs[status] = count
    for tenant_id, done, total in repository.active_chunk_progress(session):
        rows[tenant_id].chunks_done = done
        rows[tenant_id].chunks_total = total
    for tenant_id, pending in repository.pending_chunks(session):
        rows[tenant_id].chunks_pending = pending
    for tenant_id, count in repository.open_batches(session):
        rows[tenant_id].open_batches = count
    since = (today or datetime.now(UTC).date()) - timedelta(days=COST_DAYS)
    for tenant_id, currency, cost in repository.cost_since(session, since):
        rows[tenant_id].cost[currency] = cost
    return list(rows.values())
