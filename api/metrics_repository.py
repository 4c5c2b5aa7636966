"""The queries behind GET /metrics (api/metrics.py), fleet-wide, read at scrape time.

What one scrape costs on Postgres (four statements; api/metrics.py adds one broker round trip):
- jobs by status: an index-only scan of ix_jobs_status, O(jobs);
- chunk durations: chunks finished in the last 24 hours, aggregated in SQL. No index
  leads with finished_at (ix_chunks_status_lease is (status, lease_until), and a done
  chunk has no lease), so this reads every done chunk, O(chunks); a partial index on
  chunks (finished_at) WHERE status = 'done' would make it O(chunks in the window);
- tokens, requests, 429s, cost: one aggregate over usage_daily_rollup, O(rollup rows),
  which grow by days × tenants × models × languages × labels, not by requests;
- limiter wait and request seconds: one more sum over usage_daily_rollup, O(rollup rows).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, extract, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from ltb.db.models import Chunk, Job, UsageDaily
from ltb.states import ChunkStatus
from ltb.usage import TOKEN_KINDS
from ltb.views import JOB_STATUSES

# Upper bounds of the chunk duration buckets, in seconds. Past ten minutes (the default
# chunk lease) a chunk is an outlier to look at, not a shape to resolve: +Inf holds it.
CHUNK_DURATION_BUCKETS_S = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


@dataclass(frozen=True)
class ChunkDurations:
    """Cumulative bucket counts (upper bound in seconds, chunks at or under it)."""

    buckets: list[tuple[float, int]]
    count: int
    sum_s: float


@dataclass
class ModelUsage:
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_KINDS, 0))
    requests: int = 0
    rate_limited: int = 0


@dataclass(frozen=True)
class ProviderUsage:
    by_model: dict[str, ModelUsage]
    cost_by_currency: dict[str, Decimal]


@dataclass(frozen=True)
class ProviderSeconds:
    limiter_wait_s: float
    request_s: float


def jobs_by_status(session: Session) -> dict[str, int]:
    """How many jobs are in each status, every status present."""
    counts = dict.fromkeys(JOB_STATUSES, 0)
    for status, count in session.execute(select(Job.status, func.count()).group_by(Job.status)):
        counts[status] = int(count)
    return counts


def seconds_between(
    start: ColumnElement[Any] | QueryableAttribute[Any],
    end: ColumnElement[Any] | QueryableAttribute[Any],
    *,
    dialect: str,
) -> ColumnElement[Any]:
    """SQL for the seconds from `start` to `end`, on Postgres or SQLite."""
    if dialect == "postgresql":
        return extract("epoch", end - start)
    # SQLite keeps timestamps as text; julianday() reads them as fractional days.
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def chunk_durations(session: Session, *, finished_since: datetime) -> ChunkDurations:
    """The durations of chunks done since `finished_since`, counted into buckets in SQL."""
    dialect = session.get_bind().dialect.name
    durations = (
        select(
            seconds_between(Chunk.started_at, Chunk.finished_at, dialect=dialect).label(
                "duration_s"
            )
        )
        .where(
            Chunk.status == ChunkStatus.DONE,
            Chunk.started_at.is_not(None),
            Chunk.finished_at >= finished_since,
        )
        .subquery()
    )
    duration_s = durations.c.duration_s
    row = session.execute(
        select(
            *(
                func.coalesce(func.sum(case((duration_s <= bound, 1), else_=0)), 0)
                for bound in CHUNK_DURATION_BUCKETS_S
            ),
            func.count(),
            func.coalesce(func.sum(duration_s), 0),
        )
    ).one()
    *in_buckets, count, sum_s = row
    return ChunkDurations(
        buckets=[
            (bound, int(n)) for bound, n in zip(CHUNK_DURATION_BUCKETS_S, in_buckets, strict=True)
        ],
        count=int(count),
        sum_s=float(sum_s),
    )


def provider_usage(session: Session) -> ProviderUsage:
    """Tokens, requests and 429s per model, and cost per currency, over all days."""
    kinds = [func.sum(getattr(UsageDaily, kind)) for kind in TOKEN_KINDS]
    rows = session.execute(
        select(
            UsageDaily.model,
            UsageDaily.currency,
            *kinds,
            func.sum(UsageDaily.requests),
            func.sum(UsageDaily.rate_limited),
            func.sum(UsageDaily.cost),
        ).group_by(UsageDaily.model, UsageDaily.currency)
    ).all()
    by_model: dict[str, ModelUsage] = defaultdict(ModelUsage)
    cost_by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for model, currency, *sums in rows:
        *tokens, requests, rate_limited, cost = sums
        usage = by_model[model]
        for kind, value in zip(TOKEN_KINDS, tokens, strict=True):
            usage.tokens[kind] += int(value or 0)
        usage.requests += int(requests or 0)
        usage.rate_limited += int(rate_limited or 0)
        # The rollup keeps unpriced requests under currency "": they have no cost to add.
        if currency:
            cost_by_currency[currency] += Decimal(cost or 0)
    return ProviderUsage(by_model=dict(by_model), cost_by_currency=dict(cost_by_currency))


def provider_seconds(session: Session) -> ProviderSeconds:
    """Seconds provider calls waited for the rate limiter, and seconds they took, in total."""
    # From the rollup, like the token counts: a scrape never scans usage_records.
    limiter_wait_s, request_s = session.execute(
        select(
            func.coalesce(func.sum(UsageDaily.limiter_wait_s), 0.0),
            func.coalesce(func.sum(UsageDaily.request_s), 0.0),
        )
    ).one()
    return ProviderSeconds(
        limiter_wait_s=float(limiter_wait_s or 0.0), request_s=float(request_s or 0.0)
    )
