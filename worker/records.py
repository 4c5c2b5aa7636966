"""Usage records in Postgres: each begun and completed in its own committed transaction,
so the row exists before the provider is called and survives whatever happens next.

Completing a record also notes on its job who answered: a job any of whose requests the
emulator answered says "emulator", whatever answered the others."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from ltb.db.engine import unit_of_work
from ltb.db.models import Job, UsageRecord
from ltb.pricing import PriceTable
from ltb.providers import EMULATOR, Provider
from ltb.usage import TokenCounts


class DbUsageRecorder:
    """The service's UsageRecorder (see pipeline/usage_records.py for the protocol)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        tenant_id: uuid.UUID,
        job_id: uuid.UUID,
        model: str,
        price_table: PriceTable,
        engine: str = "file",
    ) -> None:
        self.sessions = sessions
        self.tenant_id, self.job_id, self.model = tenant_id, job_id, model
        self.engine = engine
        self.price_table = price_table

    def begin(self, *, chunk_index: int, attempt: int, estimate: TokenCounts) -> str:
        record_id = uuid.uuid4()
        cost = self.price_table.cost(self.model, estimate)
        with unit_of_work(self.sessions) as session:
            session.add(
                UsageRecord(
                    id=record_id,
                    tenant_id=self.tenant_id,
                    job_id=self.job_id,
                    chunk_idx=chunk_index,
                    attempt=attempt,
                    model=self.model,
                    engine=self.engine,
                    estimated=True,
                    outcome="pending",
                    price_table=cost.price_table,
                    cost=cost.amount,
                    currency=cost.currency,
                    **estimate.as_dict(),
                )
            )
        return str(record_id)

    def attach_request_id(self, record_id: str, request_id: str) -> None:
        with unit_of_work(self.sessions) as session:
            session.execute(
                update(UsageRecord)
                .where(UsageRecord.id == uuid.UUID(record_id))
                .values(request_id=request_id)
            )

    def complete(
        self,
        record_id: str,
        *,
        request_id: str | None,
        usage: TokenCounts,
        estimated: bool,
        outcome: str,
        limiter_wait_s: float = 0.0,
        duration_s: float | None = None,
        provider: Provider | None = None,
    ) -> None:
        cost = self.price_table.cost(self.model, usage)
        with unit_of_work(self.sessions) as session:
            session.execute(
                update(UsageRecord)
                .where(UsageRecord.id == uuid.UUID(record_id))
                .values(
                    request_id=request_id,
                    estimated=estimated,
                    outcome=outcome,
                    cost=cost.amount,
                    currency=cost.currency,
                    price_table=cost.price_table,
                    completed_at=datetime.now(UTC),
                    limiter_wait_s=limiter_wait_s,
                    duration_s=duration_s,
                    **usage.as_dict(),
                )
            )
            if provider is not None:
                # Only a change is written: the job row is shared by all its chunks.
                unset_or_other = (
                    or_(Job.provider.is_(None), Job.provider != EMULATOR)
                    if provider == EMULATOR
                    else Job.provider.is_(None)
                )
                session.execute(
                    update(Job)
                    .where(Job.id == self.job_id, unset_or_other)
                    .values(provider=provider)
                )
