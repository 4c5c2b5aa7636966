"""The usage records' queries: completing a record, noting who answered, closing what a
dead worker left pending, and a job's records as the manifest books them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, Job, UsageRecord
from ltb.pricing import PriceTable
from ltb.providers import EMULATOR, Provider
from ltb.states import UsageOutcome
from ltb.tokens import MAX_OUTPUT_TOKENS
from ltb.usage import TokenCounts
from pipeline.usage_records import RequestUsage


def set_request_id(session: Session, record_id: uuid.UUID, request_id: str) -> None:
    session.execute(
        update(UsageRecord).where(UsageRecord.id == record_id).values(request_id=request_id)
    )


def complete(session: Session, record_id: uuid.UUID, **values: Any) -> None:
    """Writes a record's outcome, figures and cost, and when it completed."""
    session.execute(
        update(UsageRecord)
        .where(UsageRecord.id == record_id)
        .values(completed_at=datetime.now(UTC), **values)
    )


def note_provider(session: Session, job_id: uuid.UUID, provider: Provider) -> None:
    """Notes on the job who answered; the emulator, once it answered any request, stays.
    Only a change is written: the job row is shared by all its chunks."""
    unset_or_other = (
        or_(Job.provider.is_(None), Job.provider != EMULATOR)
        if provider == EMULATOR
        else Job.provider.is_(None)
    )
    session.execute(update(Job).where(Job.id == job_id, unset_or_other).values(provider=provider))


def abandon_pending_records(
    session: Session, chunk: Chunk, *, dubbed: bool, price_table: PriceTable
) -> int:
    """Closes the usage rows a dead worker left pending, at the most the provider could
    have billed: the measured input plus the model's whole output allowance."""
    rows = list(
        session.scalars(
            select(UsageRecord).where(
                UsageRecord.job_id == chunk.job_id,
                UsageRecord.chunk_idx == chunk.idx,
                UsageRecord.outcome == UsageOutcome.PENDING,
            )
        )
    )
    for row in rows:
        if dubbed:
            row.output_audio = max(0, MAX_OUTPUT_TOKENS - row.output_text)
        else:
            row.output_text, row.output_audio = MAX_OUTPUT_TOKENS, 0
        counts = TokenCounts.of(row)
        cost = price_table.cost(row.model, counts)
        row.outcome, row.estimated = UsageOutcome.ABANDONED, True
        row.cost, row.currency, row.price_table = cost.amount, cost.currency, cost.price_table
        row.completed_at = datetime.now(UTC)
    return len(rows)


def usage_records(session: Session, job_id: uuid.UUID) -> list[RequestUsage]:
    rows = session.scalars(
        select(UsageRecord)
        .where(UsageRecord.job_id == job_id)
        .order_by(UsageRecord.created_at, UsageRecord.id)
    )
    return [
        RequestUsage(
            id=str(row.id),
            chunk_index=row.chunk_idx,
            attempt=row.attempt,
            model=row.model,
            request_id=row.request_id,
            usage=TokenCounts.of(row),
            estimated=row.estimated,
            outcome=row.outcome,
            created_at=row.created_at.isoformat(),
        )
        for row in rows
    ]
