"""Usage records in Postgres: each begun and completed in its own committed transaction,
so the row exists before the provider is called and survives whatever happens next.

Completing a record also notes on its job who answered: a job any of whose requests the
emulator answered says "emulator", whatever answered the others."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker

from ltb.db.engine import unit_of_work
from ltb.db.models import UsageRecord
from ltb.pricing import PriceTable
from ltb.providers import Provider
from ltb.states import Engine, UsageOutcome, UsagePurpose
from ltb.usage import TokenCounts
from worker import usage_repository


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
        engine: Engine = Engine.FILE,
        purpose: UsagePurpose = UsagePurpose.TRANSLATE,
    ) -> None:
        self.sessions = sessions
        self.tenant_id, self.job_id, self.model = tenant_id, job_id, model
        self.engine = engine
        self.price_table = price_table
        self.purpose = purpose

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
                    outcome=UsageOutcome.PENDING,
                    purpose=self.purpose,
                    price_table=cost.price_table,
                    cost=cost.amount,
                    currency=cost.currency,
                    **estimate.as_dict(),
                )
            )
        return str(record_id)

    def attach_request_id(self, record_id: str, request_id: str) -> None:
        with unit_of_work(self.sessions) as session:
            usage_repository.set_request_id(session, uuid.UUID(record_id), request_id)

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
            usage_repository.complete(
                session,
                uuid.UUID(record_id),
                request_id=request_id,
                estimated=estimated,
                outcome=outcome,
                cost=cost.amount,
                currency=cost.currency,
                price_table=cost.price_table,
                limiter_wait_s=limiter_wait_s,
                duration_s=duration_s,
                **usage.as_dict(),
            )
            if provider is not None:
                usage_repository.note_provider(session, self.job_id, provider)
